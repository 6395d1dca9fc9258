"""Joint image/mask geometry and colour augmentation for tf.data.

Why our own code rather than Keras' augmentation layers: in Keras 3.15
``RandomFlip`` and ``RandomCrop`` hand masks back as float32,
``RandomRotation``/``RandomZoom`` fill the outside of a mask with the
image's fill value (0, a real class) instead of the ignore id, and every
layer draws its randomness from a stateful ``SeedGenerator``, which is not
reproducible under a parallel ``tf.data`` map. Here each element gets its own
stateless seed; the rotation itself is ``keras.ops.image.affine_transform``
(bilinear for images, nearest with the ignore id as fill for masks).

All functions take one example: image ``float32 [H, W, C]`` with values
0..255 and mask ``int32 [H, W]``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Tuple

import keras
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation settings; a zero/None/False value turns one off.

    scale: (min, max) factor applied on top of the pipeline's base scale
        (native resolution, or the scale that fits the image into the crop
        when resizing to fit). hflip: random horizontal flip. rotation: max
        absolute angle in degrees; off by default because the projective
        warp costs about 10 ms per 360x480 example on one CPU core, more
        than everything else together. brightness: max shift as a fraction of
        255. contrast, saturation: max relative change. hue: max rotation as
        a fraction of a full turn.
    """

    scale: Tuple[float, float] = (0.75, 1.5)
    hflip: bool = True
    rotation: float = 0.0
    brightness: float = 0.15
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.02

    def __post_init__(self):
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise ValueError(f"scale must be (min, max) with 0 < min <= max; got {self.scale}.")
        for field in ("rotation", "brightness", "contrast", "saturation", "hue"):
            if getattr(self, field) < 0:
                raise ValueError(f"{field} must be >= 0; got {getattr(self, field)}.")
        if self.contrast >= 1 or self.saturation >= 1:
            raise ValueError("contrast and saturation must be < 1.")


def resize_pair(image, mask, size):
    """Bilinear image, nearest mask (stays int32) to ``size`` = (h, w)."""
    image = tf.image.resize(image, size, method="bilinear")
    mask = tf.image.resize(mask[..., None], size, method="nearest")[..., 0]
    return image, mask


def _scaled_size(shape_hw, scale):
    hw = tf.cast(shape_hw, tf.float32) * scale
    return tf.maximum(tf.cast(tf.round(hw), tf.int32), 1)


def fit_scale(shape_hw, size):
    """Scale that fits an image of ``shape_hw`` inside ``size`` keeping aspect."""
    hw = tf.cast(shape_hw, tf.float32)
    return tf.minimum(size[0] / hw[0], size[1] / hw[1])


def pad_pair(image, mask, size, ignore_id, offset=None):
    """Pads to at least ``size``: image with 0, mask with ``ignore_id``.

    ``offset`` = (top, left) padding; default centres the content.
    """
    shape = tf.shape(mask)
    target = tf.maximum(shape, tf.constant(size, tf.int32))
    extra = target - shape
    if offset is None:
        offset = extra // 2
    paddings = tf.stack([offset, extra - offset], axis=1)
    image = tf.pad(image, tf.concat([paddings, [[0, 0]]], 0), constant_values=0)
    mask = tf.pad(mask, paddings, constant_values=ignore_id)
    return image, mask


def random_crop_pair(image, mask, size, seed):
    """Crops ``size`` at one random offset from both (inputs at least ``size``)."""
    shape = tf.shape(mask)
    limit = shape - tf.constant(size, tf.int32) + 1
    offset = tf.random.stateless_uniform([2], seed, maxval=tf.int32.max, dtype=tf.int32) % limit
    image = tf.slice(image, tf.concat([offset, [0]], 0), [size[0], size[1], -1])
    mask = tf.slice(mask, offset, size)
    return image, mask


def rotate_pair(image, mask, degrees, ignore_id):
    """Rotates both about the centre; outside pixels: image 0, mask ignore."""
    shape = tf.cast(tf.shape(mask), tf.float32)
    theta = tf.cast(degrees, tf.float32) * (math.pi / 180.0)
    c, s = tf.cos(theta), tf.sin(theta)
    cy, cx = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    # Output pixel (x, y) samples input (x', y') = R (x - c) + c.
    transform = tf.stack([c, -s, cx - c * cx + s * cy,
                          s, c, cy - s * cx - c * cy, 0.0, 0.0])[None]
    image = keras.ops.image.affine_transform(
        image[None], transform, interpolation="bilinear", fill_mode="constant",
        fill_value=0)[0]
    mask = keras.ops.image.affine_transform(
        tf.cast(mask, tf.float32)[None, :, :, None], transform, interpolation="nearest",
        fill_mode="constant", fill_value=ignore_id)[0, :, :, 0]
    return image, tf.cast(tf.round(mask), tf.int32)


def hflip_pair(image, mask, flip):
    return tf.cond(flip, lambda: (image[:, ::-1], mask[:, ::-1]), lambda: (image, mask))


_LUMA = (0.299, 0.587, 0.114)


def colour_jitter(image, seed, config: AugmentConfig):
    """Brightness, contrast, saturation and hue on a float image 0..255.

    The four steps are affine in the pixel values (saturation blends with
    the luma image, hue rotates chroma in YIQ space), so they are composed
    into one 3x3 matrix and one offset: a single pass over the image instead
    of an HSV round trip. Values are clipped to 0..255 once, at the end.
    Returns ``float32 [H, W, C]``.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)

    def factor(i, amount):
        return tf.random.stateless_uniform([], seeds[i], -amount, amount) if amount else 0.0

    image = tf.cast(image, tf.float32)
    channels = image.shape[-1]
    b = factor(0, config.brightness) * 255.0
    c = 1.0 + factor(1, config.contrast)
    # Contrast pulls towards the mean of the brightened image.
    offset = c * b + (1.0 - c) * (tf.reduce_mean(image) + b)
    if channels != 3 or not (config.saturation or config.hue):
        return tf.clip_by_value(image * c + offset, 0.0, 255.0)
    f = 1.0 + factor(2, config.saturation)
    luma = tf.constant([_LUMA])
    matrix = f * tf.eye(3) + (1.0 - f) * tf.ones([3, 1]) @ luma
    if config.hue:
        matrix = _hue_matrix(factor(3, config.hue) * (2 * math.pi)) @ matrix
    # Both matrices keep grey pixels grey, so the offset passes unchanged.
    flat = tf.reshape(image, [-1, 3]) @ tf.transpose(matrix * c) + offset
    return tf.clip_by_value(tf.reshape(flat, tf.shape(image)), 0.0, 255.0)


def _hue_matrix(angle):
    to_yiq = tf.constant([[0.299, 0.587, 0.114],
                          [0.596, -0.274, -0.322],
                          [0.211, -0.523, 0.312]])
    from_yiq = tf.linalg.inv(to_yiq)
    c, s = tf.cos(angle), tf.sin(angle)
    rot = tf.stack([tf.stack([1.0, 0.0, 0.0]), tf.stack([0.0, c, -s]), tf.stack([0.0, s, c])])
    return from_yiq @ rot @ to_yiq


def _box(offset, scaled, crop, flip=None):
    """crop_and_resize box for the window ``offset .. offset + crop - 1`` of
    the image resized to ``scaled`` (align-corners sampling, so a window
    inside the resized image never reads outside the original). Offsets may
    be negative or windows overhang: those pixels become the fill value."""
    offset = tf.cast(offset, tf.float32)
    denom = tf.maximum(tf.cast(scaled, tf.float32) - 1.0, 1.0)
    start = offset / denom
    end = (offset + tf.cast(crop, tf.float32) - 1.0) / denom
    if flip is not None:
        # crop_and_resize mirrors a window whose x1 > x2.
        start, end = (tf.stack([start[0], tf.where(flip, end[1], start[1])]),
                      tf.stack([end[0], tf.where(flip, start[1], end[1])]))
    return tf.concat([start, end], 0)[None]


def warp_pair(image, mask, box, size, ignore_id, extra=None):
    """Samples one box from both: image bilinear (outside 0), mask nearest
    (outside ``ignore_id``). Returns ``float32 [h, w, C]``, ``int32 [h, w]``.

    ``extra``: a float ``[H', W', K]`` map of the same scene at any size (a
    teacher's logits at half resolution): the box is in normalised
    coordinates, so it samples the same window, bilinear (outside 0), and is
    returned third as ``float32 [h, w, K]``."""
    index = tf.zeros([1], tf.int32)
    image = tf.image.crop_and_resize(image[None], box, index, size, method="bilinear",
                                     extrapolation_value=0.0)[0]
    mask = tf.image.crop_and_resize(tf.cast(mask, tf.float32)[None, :, :, None], box, index, size,
                                    method="nearest", extrapolation_value=float(ignore_id))
    mask = tf.cast(mask[0, :, :, 0], tf.int32)
    if extra is None:
        return image, mask
    extra = tf.image.crop_and_resize(tf.cast(extra, tf.float32)[None], box, index, size, method="bilinear",
                                     extrapolation_value=0.0)[0]
    return image, mask, extra


def augment_pair(image, mask, seed, *, size, ignore_id, config: AugmentConfig = AugmentConfig(),
                 base_scale="fit", extra=None):
    """Random scale, crop/pad to ``size``, flip, rotation and colour jitter.

    Scale, crop, padding and flip are one ``crop_and_resize`` per tensor:
    the image is never resized at full size, which keeps the pipeline fast.

    Args:
        image: ``uint8 or float32 [H, W, C]`` 0..255.
        mask: ``int32 [H, W]``.
        seed: ``int32/int64 [2]`` stateless seed.
        size: output (h, w).
        base_scale: what ``config.scale`` multiplies: ``"fit"`` (the scale
            that fits the image into ``size``) or a number (1.0: native
            resolution, so crops keep objects at their size in pixels).
        extra: optional float ``[H', W', K]`` map of the same scene (cached
            soft labels, any size): it gets the same scale, crop, flip and
            rotation as the image (bilinear, 0 outside) and no colour jitter.

    Returns:
        ``float32 [h, w, C]``, ``int32 [h, w]``; mask values are a subset of
        the input's plus ``ignore_id``. With ``extra``, its warped
        ``float32 [h, w, K]`` third.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    lo, hi = config.scale
    shape = tf.shape(mask)
    base = fit_scale(shape, size) if base_scale == "fit" else tf.constant(float(base_scale), tf.float32)
    scale = base * tf.random.stateless_uniform([], seeds[0], lo, hi)
    scaled = _scaled_size(shape, scale)
    # Window offset: anywhere inside a larger image; a smaller image lands
    # at a random place in the window (negative offset = padding).
    excess = scaled - tf.constant(size, tf.int32)
    span = tf.abs(excess) + 1
    offset = tf.minimum(excess, 0) + tf.random.stateless_uniform(
        [2], seeds[1], maxval=tf.int32.max, dtype=tf.int32) % span
    flip = None
    if config.hflip:
        flip = tf.random.stateless_uniform([], seeds[2]) < 0.5
    warped = warp_pair(image, mask, _box(offset, scaled, size, flip), size, ignore_id, extra)
    image, mask = warped[:2]
    if config.rotation:
        angle = tf.random.stateless_uniform([], seeds[3], -config.rotation, config.rotation)
        if extra is None:
            image, mask = rotate_pair(image, mask, angle, ignore_id)
        else:  # one rotation for both: the extra channels ride on the image
            channels = image.shape[-1] if image.shape[-1] is not None else tf.shape(image)[-1]
            both, mask = rotate_pair(tf.concat([image, warped[2]], -1), mask, angle, ignore_id)
            image, warped = both[..., :channels], (None, None, both[..., channels:])
    image = colour_jitter(image, seeds[4], config)
    return (image, mask) if extra is None else (image, mask, warped[2])


def fit_pair(image, mask, *, size, ignore_id, extra=None):
    """Deterministic: resize keeping aspect to fit ``size``, centre-pad
    (image 0, mask ``ignore_id``). Returns ``float32 [h, w, C]``, ``int32 [h, w]``
    (and ``extra`` warped alike third, as :func:`augment_pair`)."""
    shape = tf.shape(mask)
    scaled = _scaled_size(shape, fit_scale(shape, size))
    offset = -((tf.constant(size, tf.int32) - scaled) // 2)
    return warp_pair(image, mask, _box(offset, scaled, size), size, ignore_id, extra)
