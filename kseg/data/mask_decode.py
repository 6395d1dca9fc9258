"""Decoding image/mask files inside tf.data, with checks that name the file.

A bad mask id fails at the first batch that holds it, with
``tf.errors.InvalidArgumentError`` carrying the same message as the eager
check (``<mask>: mask value 300 not in label_map.``).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from PIL import Image

from kseg.data.images import decode_image
from kseg.data.mask_codec import message_tf, out_of_range_message, unmapped_message


def _pil_index_mask(path):
    with Image.open(path.decode() if isinstance(path, bytes) else path) as im:
        arr = np.asarray(im)
    return arr.astype(np.int32)


def _first(values):
    """The first element of a 1-D tensor as a string ("" when empty)."""
    return tf.strings.reduce_join(tf.strings.as_string(values[:1]))


def map_and_check(raw, codec, *, num_classes, ignore_id, source):
    """Maps raw mask values to int32 ids inside a tf.data function.

    Asserts that every raw value is known to ``codec`` and every id is a
    class (``[0, num_classes)``) or ``ignore_id``. ``source`` (a path tensor
    or a string) starts the error message so users learn which file is bad.
    """
    mask = codec.map_tf(raw)
    flat = tf.reshape(mask, [-1])
    checks = []
    if codec.keys is not None:
        unmapped = flat < 0
        bad_raw = tf.boolean_mask(tf.reshape(codec.raw_tf(raw), [-1]), unmapped)
        # The first bad value, or 0 (never printed) when there is none.
        detail = codec.describe_raw_tf(tf.concat([bad_raw[:1], tf.zeros([1], tf.int64)], 0)[0])
        checks.append(tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(unmapped)),
            [message_tf(lambda p, d: unmapped_message(p, d, codec), source, detail)]))
        counted = tf.logical_not(unmapped)
    else:
        counted = tf.ones_like(flat, tf.bool)
    out_of_range = ((flat >= num_classes) | (flat < 0)) & (flat != ignore_id) & counted
    bad_ids = tf.boolean_mask(flat, out_of_range)
    detail = tf.strings.join(["[", _first(bad_ids), "]"])
    checks.append(tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(out_of_range)),
        [message_tf(lambda p, d: out_of_range_message(p, d, num_classes, ignore_id), source,
                    detail)]))
    with tf.control_dependencies(checks):
        return tf.identity(mask)


def _hw(tensor):
    shape = tf.strings.as_string(tf.shape(tensor)[:2])
    return tf.strings.join([shape[0], "x", shape[1]])


def check_same_size(image, mask, image_source, mask_source):
    """Returns ``mask`` after asserting it has ``image``'s height and width."""
    size_check = tf.debugging.Assert(
        tf.reduce_all(tf.shape(image)[:2] == tf.shape(mask)[:2]),
        [tf.strings.join([mask_source, ": size ", _hw(mask), " (HxW) does not match image ",
                          image_source, " size ", _hw(image), "."])])
    with tf.control_dependencies([size_check]):
        return tf.identity(mask)


def make_decode_fn(*, image_channels, mask_modes, codec, num_classes, ignore_id):
    """``(image_path, mask_path) -> (uint8 [H, W, C], int32 [H, W])`` for tf.data.

    ``mask_modes``: the PIL modes of the masks (from the eager checks), which
    choose the decoder.
    """
    if codec.kind == "rgb":
        def read_mask(path):
            return tf.io.decode_png(tf.io.read_file(path), channels=3)
    elif mask_modes <= {"L"}:
        def read_mask(path):
            return tf.io.decode_png(tf.io.read_file(path), channels=1)[..., 0]
    elif mask_modes <= {"I;16", "I;16B"}:
        def read_mask(path):
            return tf.io.decode_png(tf.io.read_file(path), channels=1, dtype=tf.uint16)[..., 0]
    else:
        # TF expands palette PNGs to RGB and scales 1-bit ones; PIL keeps
        # palette indices, which are the class ids in VOC-style masks.
        def read_mask(path):
            m = tf.numpy_function(_pil_index_mask, [path], tf.int32, stateful=False)
            m.set_shape([None, None])
            return m

    def decode(image_path, mask_path):
        image = decode_image(tf.io.read_file(image_path), image_channels)
        mask = map_and_check(read_mask(mask_path), codec, num_classes=num_classes,
                             ignore_id=ignore_id, source=mask_path)
        mask = check_same_size(image, mask, image_path, mask_path)
        image.set_shape([None, None, image_channels])
        return image, mask

    return decode
