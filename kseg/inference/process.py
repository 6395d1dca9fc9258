"""Processing one task of a batch prediction: read, predict, write atomically, or report an error.

Every engine (``kseg.inference.engines``) runs ``process_task`` and nothing
else, so the local and the Ray engine read, predict and write each image
the same way. Engines receive a ``ModelSpec`` (a path and settings: it
pickles) and load it once per worker; a loaded predictor holds a
``tf.function`` or an interpreter, which do not pickle.
"""

import dataclasses
import io
import re
import struct
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from kseg.inference import storage
from kseg.inference.visualize import colorize, overlay

# Largest height or width read by default; a header declaring more is refused before decoding.
DEFAULT_MAX_IMAGE_SIZE = 8192
DONE, SKIPPED, FAILED = "done", "skipped", "failed"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to load the model itself (``load_predictor`` arguments).

    Attributes:
        path: ``.keras`` file, SavedModel directory, ``.tflite`` or ``.onnx``.
        tta: ``kseg.models.parse_tta`` spec (``.keras`` only), e.g. ``"flip"``.
        tile: ``(H, W)`` sliding-window size (``.keras`` only); ``tile_overlap``.
        num_threads: interpreter threads of a ``.tflite`` / ``.onnx``.
    """

    path: str
    tta: str = None
    tile: tuple = None
    tile_overlap: float = 0.25
    num_threads: int = 1

    def load(self):
        from kseg.inference.predictor import load_predictor

        return load_predictor(self.path, tta=self.tta, tile=tuple(self.tile) if self.tile else None,
                              tile_overlap=self.tile_overlap, num_threads=self.num_threads)


@dataclasses.dataclass(frozen=True)
class Options:
    """How every task is processed (picklable).

    Attributes:
        palette: ``uint8 [K, 3]`` colours of the masks; None: kseg's default for the model's classes.
        ignore_id: class id drawn black.
        max_image_size: largest height or width read (checked in the file's header first).
        overwrite: redo tasks whose outputs exist (else they are skipped: resume).
    """

    palette: tuple = None
    ignore_id: int = 255
    max_image_size: int = DEFAULT_MAX_IMAGE_SIZE
    overwrite: bool = False


@dataclasses.dataclass(frozen=True)
class Result:
    """What became of one task: ``status`` is ``done``, ``skipped`` (outputs already there) or ``failed``."""

    source: str
    key: str
    status: str
    error: str = None

    def as_row(self):
        return dataclasses.asdict(self)


def declared_size(data):
    """``(height, width)`` a PNG, JPEG or BMP header declares, read without decoding the pixels.

    Raises:
        ValueError: not an image PIL recognises, or one so large PIL refuses to open it.
    """
    if data[:8] == PNG_SIGNATURE and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return height, width
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as im:  # reads the header only
                width, height = im.size
        except Image.DecompressionBombError as error:
            raise ValueError(f"refused before decoding: {error}") from None
        except UnidentifiedImageError:
            raise ValueError("empty file" if not data else "not an image file kseg reads (PNG, JPEG, BMP)") from None
        except OSError as error:
            raise ValueError(f"unreadable image header: {error}") from None
    return height, width


def read_image(data, channels, max_image_size):
    """uint8 ``[H, W, channels]`` from image file bytes, decoded as the SavedModel's ``predict_encoded`` does.

    The size comes from the header first, so a decompression bomb (a small
    file declaring a huge image) is refused without being decoded.

    Raises:
        ValueError: the reason (too large, not an image, truncated or corrupt).
    """
    import tensorflow as tf

    from kseg.data.images import decode_image

    height, width = declared_size(data)
    if not (0 < height <= max_image_size and 0 < width <= max_image_size):
        raise ValueError(f"declares {height}x{width} pixels, more than --max-image-size {max_image_size} "
                         "on a side (a decompression bomb?)" if max(height, width) > max_image_size
                         else f"declares an empty image ({height}x{width})")
    try:
        return decode_image(tf.constant(data), channels).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        # "{{function_node ...}} Invalid PNG data, size 3054 [Op:DecodeImage] name: " -> "Invalid PNG data, size 3054"
        message = re.sub(r"\{\{.*?\}\}|\[Op:\w+\]|\s+name:.*$", "", str(error.message or type(error).__name__))
        raise ValueError(f"cannot decode: {message.strip().splitlines()[0].strip()}") from None


def _resize_nearest(classes, size):
    """``int [h, w]`` -> ``[H, W]`` by nearest neighbour at pixel centres."""
    rows = ((np.arange(size[0]) + 0.5) * classes.shape[0] / size[0]).astype(np.int64)
    cols = ((np.arange(size[1]) + 0.5) * classes.shape[1] / size[1]).astype(np.int64)
    return classes[np.minimum(rows, classes.shape[0] - 1)][:, np.minimum(cols, classes.shape[1] - 1)]


def classes_of(predictor, image):
    """int32 ``[H, W]`` classes of one uint8 ``[H, W, C]`` image at its own size.

    A predictor with a fixed ``input_size`` (a ``.tflite``, a fixed-size
    ``.onnx``) gets the image resized to that size (bilinear, antialiased)
    and its class map resized back (nearest neighbour), so any image size
    runs; a fully convolutional model runs at the image's size.
    """
    size = getattr(predictor, "input_size", None)
    if size is None or tuple(image.shape[:2]) == tuple(size):
        return predictor.classes(image[None])[0]
    import tensorflow as tf

    resized = tf.image.resize(image, size, method="bilinear", antialias=True)
    resized = np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)
    return _resize_nearest(predictor.classes(resized[None])[0], image.shape[:2])


def class_map_image(classes):
    """int ``[H, W]`` class ids -> an 8-bit PNG image, or a 16-bit one when an id
    exceeds 255 (a cast to uint8 would wrap class 256 onto class 0)."""
    classes = np.asarray(classes)
    if classes.size and (classes.min() < 0 or classes.max() > 65535):
        raise ValueError(f"classes: ids must be in 0..65535 to save as PNG; got "
                         f"{classes.min()}..{classes.max()}.")
    if classes.size and classes.max() > 255:
        return Image.fromarray(classes.astype(np.uint16))
    return Image.fromarray(classes.astype(np.uint8))


def _png(image):
    buffer = io.BytesIO()
    # zlib level 3: on CamVid overlays 2.7x faster to encode than PIL's default 6, files 5% larger
    # (71 vs 191 ms, 252 vs 240 kB per 360x480 image); encoding was half of a .tflite run's time.
    image.save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def decode_channels(predictor):
    """Channels to decode files to: the model's when a file can give them (1, 3 or 4), else 3."""
    channels = getattr(predictor, "channels", None)
    return channels if channels in (1, 3, 4) else 3


def process_task(predictor, task, options=Options()):
    """Read ``task.source``, predict, write its three PNGs; or report why not.

    Outputs are written atomically, the class map last, so a task whose
    outputs all exist is complete; it is ``skipped`` unless
    ``options.overwrite``. A bad input (unreadable, corrupt, too large,
    refused by the model) is ``failed`` with the reason; nothing is written
    for it. Errors writing the outputs are raised: they are not the input's.

    Returns:
        ``Result``.
    """
    outputs = task.outputs
    if not options.overwrite and all(storage.exists(path) for path in outputs.values()):
        return Result(task.source, task.key, SKIPPED)
    try:
        image = read_image(storage.read_bytes(task.source), decode_channels(predictor), options.max_image_size)
        classes = classes_of(predictor, image)
    except Exception as error:  # any reason one input cannot be predicted is reported, not raised
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if not isinstance(error, (ValueError, OSError)):
            reason = f"{type(error).__name__}: {reason}"
        return Result(task.source, task.key, FAILED, reason)
    palette = options.palette
    if palette is None:
        from kseg.data.source import default_palette

        palette = default_palette(predictor.num_classes or 256)
    colour = colorize(classes, np.asarray(palette, np.uint8), options.ignore_id)
    storage.write_bytes(outputs["mask"], _png(Image.fromarray(colour)))
    storage.write_bytes(outputs["overlay"], _png(Image.fromarray(overlay(image[..., :3], colour))))
    storage.write_bytes(outputs["classes"], _png(class_map_image(classes)))
    return Result(task.source, task.key, DONE)
