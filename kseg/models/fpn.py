"""Semantic FPN (Kirillov et al. 2019, "Panoptic Feature Pyramid Networks",
semantic segmentation branch) on the FPN of Lin et al. 2017."""

import keras

from kseg._batch_norm import batch_normalization
from kseg._checks import check_int
from kseg.layers import ResizeLike
from kseg.models.deeplab_v3 import backbone_features, classify_at_input_size
from kseg.models.registry import register

# Pyramid levels P2..P5 live at strides 4..32.
LEVELS = {2: 4, 3: 8, 4: 16, 5: 32}
NORMS = ("group", "batch")


def _conv_norm_relu(x, filters, norm, groups, name):
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    if norm == "group":
        x = keras.layers.GroupNormalization(groups, name=f"{name}_gn")(x)
    else:
        x = batch_normalization(f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


@register("fpn")
def fpn(*, num_classes, input_shape=(None, None, 3), backbone="resnet50", weights=None,
        pyramid_channels=256, segmentation_channels=128, norm="group", groups=32):
    """Semantic FPN: backbone C2..C5 (strides 4..32), FPN top-down pathway
    (1x1 laterals, nearest upsampling, addition, 3x3 output convs) giving
    P2..P5, then per level ``max(1, level - 2)`` stages of 3x3 conv +
    norm + ReLU, each but the last followed by bilinear x2 upsampling, so
    every level reaches stride 4; element-wise sum, 1x1 classifier,
    bilinear upsampling (x4) to the input size.

    Upsampling steps resize to the next pyramid level's actual size (not a
    fixed x2), so inputs that are not multiples of 32 stay aligned.

    Args:
        num_classes: number of output classes.
        input_shape: ``(H, W, C)``; H/W may be None. C != 3 needs weights=None.
        backbone: one of ``kseg.backbones.available()`` (paper: ResNet).
        weights: backbone weights: None, ``"imagenet"`` or a file path.
        pyramid_channels: channels of the FPN laterals and outputs (256).
        segmentation_channels: channels of the semantic head stages (128).
        norm: ``"group"`` (GroupNorm, as in the paper) or ``"batch"``.
        groups: GroupNorm groups (32); must divide ``segmentation_channels``.

    Returns:
        ``keras.Model`` named ``"fpn"``: float32 raw pixels ``(B, H, W, C)``
        -> float32 logits ``(B, H, W, num_classes)``.
    """
    pyramid_channels = check_int(pyramid_channels, "`pyramid_channels`", context="fpn")
    segmentation_channels = check_int(segmentation_channels, "`segmentation_channels`", context="fpn")
    if norm not in NORMS:
        raise ValueError(f"fpn: `norm` must be one of {NORMS}, got {norm!r}.")
    groups = check_int(groups, "`groups`", context="fpn")
    if norm == "group" and segmentation_channels % groups:
        raise ValueError(
            f"fpn: `segmentation_channels` ({segmentation_channels}) must be a multiple of "
            f"`groups` ({groups}) for group normalisation."
        )
    images, features = backbone_features(
        "fpn", num_classes=num_classes, input_shape=input_shape, backbone=backbone,
        weights=weights, output_stride=32,
    )

    laterals = {
        level: keras.layers.Conv2D(pyramid_channels, 1, name=f"fpn_lateral{level}")(features[stride])
        for level, stride in LEVELS.items()
    }
    merged = {5: laterals[5]}
    for level in (4, 3, 2):
        up = ResizeLike("nearest", name=f"fpn_topdown{level}_upsample")([merged[level + 1], laterals[level]])
        merged[level] = keras.layers.Add(name=f"fpn_topdown{level}_add")([laterals[level], up])
    pyramid = {
        level: keras.layers.Conv2D(pyramid_channels, 3, padding="same", name=f"fpn_output{level}")(x)
        for level, x in merged.items()
    }

    branches = []
    for level, x in sorted(pyramid.items()):
        for stage in range(1, max(1, level - 2) + 1):
            x = _conv_norm_relu(x, segmentation_channels, norm, groups, f"seg_p{level}_stage{stage}")
            target = level - stage
            if target >= 2:
                x = ResizeLike("bilinear", name=f"seg_p{level}_stage{stage}_upsample")([x, pyramid[target]])
        branches.append(x)
    x = keras.layers.Add(name="seg_sum")(branches)
    return keras.Model(images, classify_at_input_size(x, images, num_classes), name="fpn")
