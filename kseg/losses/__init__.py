"""Segmentation losses: int labels ``(B, H, W)`` against logits ``(B, H, W, C)``.

All losses skip ``ignore_id`` pixels (default 255), compute in float32 (safe
under mixed precision), serialize with ``register_keras_serializable(package
="kseg")`` and work in ``model.compile(loss=...)``.
"""

from kseg.losses.base import SegmentationLoss
from kseg.losses.cross_entropy import CrossEntropy
from kseg.losses.dice import DiceLoss
from kseg.losses.focal import FocalLoss
from kseg.losses.registry import available, get
from kseg.losses.weighted_sum import WeightedSum

__all__ = [
    "CrossEntropy", "DiceLoss", "FocalLoss", "SegmentationLoss", "WeightedSum",
    "available", "get",
]
