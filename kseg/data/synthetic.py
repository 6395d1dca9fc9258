"""Deterministic synthetic segmentation data: shapes on textured backgrounds.

Each image is a striped, noisy background with 2-5 overlapping shapes.
A class is defined by its shape (disc, square, triangle, ring, cross); each
class also has a typical colour, but colours are jittered strongly and the
background draws from the same colour range, so colour alone is not enough
and a model has to look at shape. Later shapes occlude earlier ones.
"""

from __future__ import annotations

import functools
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from kseg._checks import check_ignore_id, positive_int
from kseg.data.source import SegmentationData

SYNTHETIC_CLASS_NAMES = ("background", "disc", "square", "triangle", "ring", "cross")
SYNTHETIC_PALETTE = np.array([
    [0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
], np.uint8)
# Typical shape colours; jitter of +-45 per channel makes them overlap.
_CLASS_COLOURS = np.array([
    [0, 0, 0], [200, 60, 60], [60, 190, 70], [210, 200, 50], [50, 110, 210], [210, 120, 40],
], np.float32)
_SPLITS = {"train": 0, "val": 1, "test": 2}
_DEFAULT_COUNTS = {"train": 512, "val": 128, "test": 128}


def _shape_mask(cls, yy, xx, cy, cx, r, angle):
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    d2 = u * u + v * v
    if cls == 1:
        return d2 <= r * r
    if cls == 2:
        return (np.abs(u) <= 0.8 * r) & (np.abs(v) <= 0.8 * r)
    if cls == 3:
        inside = np.ones_like(u, bool)
        for k in range(3):
            a = 2 * np.pi * k / 3
            inside &= u * np.cos(a) + v * np.sin(a) <= 0.5 * r
        return inside
    if cls == 4:
        return (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)
    if cls == 5:
        arm, half = 0.3 * r, r
        return ((np.abs(u) <= arm) & (np.abs(v) <= half)) | ((np.abs(v) <= arm) & (np.abs(u) <= half))
    raise ValueError(cls)


def _texture(rng, yy, xx, size):
    angle = rng.uniform(0, np.pi)
    freq = rng.uniform(0.15, 0.6)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * freq + rng.uniform(0, 6.3))
    return stripes[..., None] * rng.uniform(10, 35) + rng.normal(0, 10, size + (3,))


def _boundary(mask):
    """Pixels whose 4-neighbourhood holds another label."""
    edge = np.zeros(mask.shape, bool)
    edge[1:] |= mask[1:] != mask[:-1]
    edge[:-1] |= mask[:-1] != mask[1:]
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    return edge


def synthetic_arrays(num_examples, *, image_size=(96, 96), num_classes=5, seed=0, split_index=0,
                     ignore_boundaries=False, ignore_id=255):
    """NumPy version: ``uint8 [N, H, W, 3]`` images and ``int32 [N, H, W]`` masks."""
    h, w = image_size
    rng = np.random.default_rng([seed, split_index])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    images = np.empty((num_examples, h, w, 3), np.uint8)
    masks = np.empty((num_examples, h, w), np.int32)
    side = min(h, w)
    for n in range(num_examples):
        base = rng.uniform(40, 215, 3)
        image = base + _texture(rng, yy, xx, (h, w))
        mask = np.zeros((h, w), np.int32)
        for _ in range(rng.integers(2, 6)):
            cls = int(rng.integers(1, num_classes))
            r = rng.uniform(0.12, 0.28) * side
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            inside = _shape_mask(cls, yy, xx, cy, cx, r, rng.uniform(0, 2 * np.pi))
            colour = np.clip(_CLASS_COLOURS[cls] + rng.uniform(-45, 45, 3), 0, 255)
            fill = colour + _texture(rng, yy, xx, (h, w)) * 0.6
            image[inside] = fill[inside]
            mask[inside] = cls
        if ignore_boundaries:
            mask[_boundary(mask)] = ignore_id
        images[n] = np.clip(image, 0, 255).astype(np.uint8)
        masks[n] = mask
    return images, masks


@functools.lru_cache(maxsize=8)
def _cached_arrays(num_examples, image_size, num_classes, seed, split_index, ignore_boundaries, ignore_id):
    """``synthetic_arrays``, drawn once per process for the same arguments (read-only)."""
    arrays = synthetic_arrays(num_examples, image_size=image_size, num_classes=num_classes, seed=seed,
                              split_index=split_index, ignore_boundaries=ignore_boundaries, ignore_id=ignore_id)
    for array in arrays:
        array.setflags(write=False)
    return arrays


def synthetic(num_examples: Optional[int] = None, *, split: str = "train",
              image_size: Tuple[int, int] = (96, 96), num_classes: int = 5, seed: int = 0,
              ignore_boundaries: bool = False, ignore_id: int = 255) -> SegmentationData:
    """Shapes on textured backgrounds; identical output for identical arguments.

    Args:
        num_examples: default 512 for train, 128 for val/test.
        split: ``"train"``, ``"val"`` or ``"test"``: independent draws.
        image_size: (height, width), each 16..1024.
        num_classes: 2..6; classes are background then disc, square,
            triangle, ring, cross.
        seed: changes every split's draw.
        ignore_boundaries: label a 1-pixel band around every region edge with
            ``ignore_id`` (as VOC does), to exercise ignore handling.

    Returns:
        SegmentationData of ``(uint8 [h, w, 3], int32 [h, w])``.
    """
    if split not in _SPLITS:
        raise ValueError(f"synthetic split must be one of {sorted(_SPLITS)}; got {split!r}.")
    if num_examples is None:
        num_examples = _DEFAULT_COUNTS[split]
    positive_int(num_examples, "num_examples")
    if not isinstance(num_classes, int) or not 2 <= num_classes <= len(SYNTHETIC_CLASS_NAMES):
        raise ValueError(f"num_classes must be 2..{len(SYNTHETIC_CLASS_NAMES)}; got {num_classes!r}.")
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (height, width); got {image_size!r}.") from None
    if not (16 <= h <= 1024 and 16 <= w <= 1024):
        raise ValueError(f"image_size must be within 16..1024; got {image_size!r}.")
    ignore_id = check_ignore_id(ignore_id)
    # Runs, evaluations and benchmarks load the same split several times: draw it once.
    images, masks = _cached_arrays(num_examples, (h, w), num_classes, seed, _SPLITS[split],
                                   bool(ignore_boundaries), ignore_id)
    return SegmentationData(
        dataset=tf.data.Dataset.from_tensor_slices((images, masks)),
        num_classes=num_classes, class_names=SYNTHETIC_CLASS_NAMES[:num_classes],
        palette=SYNTHETIC_PALETTE[:num_classes], ignore_id=ignore_id,
        num_examples=num_examples, name=f"synthetic:{split}")
