"""Reading image files the one way kseg reads them everywhere.

Training, evaluation, prediction and the SavedModel's ``predict_encoded``
signature all decode an image file with :func:`decode_image`, so an image
means the same pixels on every path: PNG or JPEG (also GIF/BMP, first
frame) to uint8 with ``channels`` channels. 16-bit PNGs are scaled to 8
bits (``value >> 8``, TensorFlow's ``convert_image_dtype``); grayscale is
repeated to RGB for 3 channels; palette PNGs become their colours; alpha
is dropped.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

# PIL modes of the images the data checks accept (kseg.data.file_checks).
GRAY_MODES = ("L", "I;16", "I;16B", "I;16L", "I")
COLOUR_MODES = ("RGB", "P")


def decode_image(data, channels=3):
    """uint8 ``[H, W, channels]`` from the bytes of one image file (a string
    tensor), inside or outside a graph. 16-bit images are scaled to 8 bits."""
    image = tf.io.decode_image(data, channels=channels, dtype=tf.uint8, expand_animations=False)
    return tf.ensure_shape(image, [None, None, channels])


def read_image(path, channels=3) -> np.ndarray:
    """uint8 ``[H, W, channels]`` NumPy array of one image file, decoded by
    :func:`decode_image` (what the SavedModel's ``predict_encoded`` sees).

    Raises ValueError naming the file when it is missing or cannot be decoded.
    """
    path = os.fspath(path)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels!r}.")
    if not os.path.isfile(path):
        raise ValueError(f"Cannot read image {path!r}: no such file.")
    try:
        with open(path, "rb") as f:
            data = f.read()
        return decode_image(tf.constant(data), channels).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        reason = str(error.message).strip().splitlines()[0] if error.message else type(error).__name__
        raise ValueError(f"Cannot read image {path!r}: {reason}") from None
