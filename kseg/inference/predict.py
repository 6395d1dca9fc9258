"""Predict class maps for image files and save colour masks and overlays."""

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from kseg.data.source import default_palette
from kseg.inference.visualize import colorize, overlay

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def _expand(paths):
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"Folder {str(p)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"Image {str(p)!r} does not exist.")
    return files


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


def predict_files(predictor, paths, output_dir, *, palette=None, ignore_id=255):
    """For each image file (or every image in a folder) write, at original resolution:
    ``<stem>_classes.png`` (index map), ``<stem>_mask.png`` (colours) and
    ``<stem>_overlay.png``. Returns the list of written class-map paths.
    """
    files = _expand(paths)
    os.makedirs(output_dir, exist_ok=True)
    if palette is None:
        palette = default_palette(predictor.num_classes or 256)
    # A 1-channel model gets grayscale; any other count is the predictor's to refuse.
    mode = "L" if getattr(predictor, "channels", None) == 1 else "RGB"
    written = []
    for path in files:
        try:
            with Image.open(path) as im:
                image = np.asarray(im.convert(mode))
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"Cannot read image {str(path)!r}: {error}") from None
        if mode == "L":
            image = image[..., None]
        classes = predictor.classes(image)[0]
        colour = colorize(classes, palette, ignore_id)
        stem = os.path.join(output_dir, path.stem)
        class_map_image(classes).save(f"{stem}_classes.png")
        Image.fromarray(colour).save(f"{stem}_mask.png")
        Image.fromarray(overlay(image, colour)).save(f"{stem}_overlay.png")
        written.append(f"{stem}_classes.png")
    return written
