"""keras.applications CNNs as feature-tap backbones (``build_backbone``),
with dilated output stride and in-graph pixel normalisation."""

from kseg.backbones.backbone import (
    MIN_INPUT_SIZE,
    OUTPUT_STRIDES,
    available,
    build_backbone,
    check_input_size,
    preprocess_mode,
)
from kseg.backbones.pixel_normalization import PixelNormalization

__all__ = [
    "MIN_INPUT_SIZE",
    "OUTPUT_STRIDES",
    "PixelNormalization",
    "available",
    "build_backbone",
    "check_input_size",
    "preprocess_mode",
]
