"""Inputs for the batch-prediction tests: a tiny model, good images and bad files with the reason each gets."""

import struct
import zlib

import keras
import numpy as np
from PIL import Image


def tiny_model(channels=3, num_classes=3):
    """A two-conv fully convolutional model whose classes vary over a random image."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, channels), name="images")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    return keras.Model(inputs, keras.layers.Conv2D(num_classes, 1, name="logits")(x))


def random_image(seed, height=20, width=30, channels=3):
    """Smooth colour blobs (a JPEG keeps them close) with a little noise."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (height // 4 + 1, width // 4 + 1, channels))
    image = np.repeat(np.repeat(low, 4, 0), 4, 1)[:height, :width] + rng.normal(0, 6, (height, width, channels))
    return np.clip(image, 0, 255).astype(np.uint8)


def save(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_bomb(path, width=30000, height=30000):
    """A PNG of a few hundred bytes whose header declares ``width`` x ``height`` gray pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + _chunk(
        b"IEND", b"")
    path.write_bytes(data)
    return path


def write_bad_files(folder):
    """Bad inputs in ``folder``; returns ``{file name: the reason failures.jsonl gives}``."""
    folder.mkdir(parents=True, exist_ok=True)
    whole = save(folder / "whole.png", random_image(9)).read_bytes()
    (folder / "whole.png").unlink()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (folder / "text.jpg").write_text("not an image\n")
    (folder / "empty.png").write_bytes(b"")
    write_bomb(folder / "bomb.png")
    return {
        "bomb.png": "declares 30000x30000 pixels, more than --max-image-size 8192 on a side (a decompression bomb?)",
        "empty.png": "empty file",
        "text.jpg": "not an image file kseg reads (PNG, JPEG, BMP)",
        "truncated.png": f"cannot decode: Invalid PNG data, size {len(whole) // 2}",
    }
