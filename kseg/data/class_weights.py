"""Class weights from label statistics, computed in one streaming pass."""

from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf

from kseg._checks import positive_int
from kseg.data.source import SegmentationData, as_dataset

logger = logging.getLogger("kseg.data")

METHODS = ("median_frequency", "inverse_frequency")


def class_counts(data, num_classes: int, ignore_id: int = 255):
    """Per-class pixel counts, streaming over ``data``.

    Args:
        data: SegmentationData or dataset of ``(image, mask)``, masks
            ``int [H, W]`` or batched ``int [B, H, W]``.

    Returns:
        ``(pixels, image_pixels)``, both ``int64 [num_classes]``:
        ``pixels[c]`` counts pixels of class c; ``image_pixels[c]`` counts
        all labelled pixels of the images in which class c appears (the
        denominator of SegNet's median-frequency balancing).
    """
    positive_int(num_classes, "num_classes")
    ds = as_dataset(data)

    def per_batch(image, mask):
        mask = tf.cast(mask, tf.int32)
        mask = tf.reshape(mask, [-1, tf.reduce_prod(tf.shape(mask)[-2:])])
        bad = (mask != ignore_id) & ((mask < 0) | (mask >= num_classes))
        check = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(bad)),
            [f"class_weights: mask id outside [0, {num_classes}) and not ignore id {ignore_id}:",
             tf.boolean_mask(mask, bad)[:1]])
        with tf.control_dependencies([check]):
            valid = mask != ignore_id
        rows = tf.shape(mask)[0]
        flat = tf.where(valid, mask + tf.range(rows)[:, None] * num_classes, -1)
        flat = tf.boolean_mask(flat, flat >= 0)
        counts = tf.math.bincount(flat, minlength=rows * num_classes, maxlength=rows * num_classes,
                                  dtype=tf.int64)
        counts = tf.reshape(counts, [rows, num_classes])
        totals = tf.reduce_sum(counts, axis=1, keepdims=True)
        present = tf.cast(counts > 0, tf.int64)
        return tf.reduce_sum(counts, 0), tf.reduce_sum(present * totals, 0)

    zero = (tf.zeros([num_classes], tf.int64), tf.zeros([num_classes], tf.int64))
    stats = ds.map(per_batch, num_parallel_calls=tf.data.AUTOTUNE).reduce(
        zero, lambda acc, x: (acc[0] + x[0], acc[1] + x[1]))
    return stats[0].numpy(), stats[1].numpy()


def check_power(power, name="power"):
    """The exponent of ``class_weights``: a number in [0, 4], else a ValueError naming ``name``."""
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not 0 <= power <= 4:
        raise ValueError(f"{name} must be a number in [0, 4]; got {power!r}.")
    return power


def class_weights(data, num_classes: int, method: str = "median_frequency",
                  ignore_id: int = 255, power: float = 1.0) -> np.ndarray:
    """Loss weights per class, ``float32 [num_classes]``.

    ``median_frequency`` (Eigen & Fergus; SegNet): ``freq_c = pixels_c /
    pixels of the images containing c`` and ``w_c = median(freq) / freq_c``.
    ``inverse_frequency``: ``w_c = total / (K * pixels_c)`` with K the number
    of classes present (mean weight over pixels is 1). Classes that never
    appear get weight 0 and a logged warning. Ignore pixels are not counted.
    ``power`` raises every weight to that power: 0.5 (square root) softens
    the balancing (rare classes are over-predicted less, frequent ones lose
    less accuracy), 0 gives every present class weight 1.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    check_power(power)
    if isinstance(data, SegmentationData):
        ignore_id = data.ignore_id
    pixels, image_pixels = class_counts(data, num_classes, ignore_id)
    present = pixels > 0
    if not present.any():
        raise ValueError("class_weights: the data holds no labelled pixels.")
    if not present.all():
        logger.warning("class_weights: classes %s never appear; their weight is 0.",
                       np.flatnonzero(~present).tolist())
    weights = np.zeros(num_classes, np.float64)
    if method == "median_frequency":
        freq = pixels[present] / image_pixels[present]
        weights[present] = np.median(freq) / freq
    else:
        weights[present] = pixels.sum() / (present.sum() * pixels[present])
    weights[present] **= power
    return weights.astype(np.float32)
