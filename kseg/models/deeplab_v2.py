"""DeepLab V2 (Chen et al. 2017, "DeepLab: Semantic Image Segmentation with
Deep Convolutional Nets, Atrous Convolution, and Fully Connected CRFs")."""

import keras

from kseg.layers import ASPP, ResizeLike
from kseg.models._blocks import float32_logits
from kseg.models.deeplab_v3 import backbone_features
from kseg.models.registry import register

# ASPP-L of the paper (rates at output stride 8).
ASPP_RATES_OS8 = (6, 12, 18, 24)


@register("deeplab_v2", head=("aspp",))  # the four dilated classifiers, summed
def deeplab_v2(*, num_classes, input_shape=(None, None, 3), backbone="resnet101",
               output_stride=8, weights=None):
    """DeepLab V2 (ASPP-L): dilated backbone at output stride 8, four 3x3
    classifiers with dilation 6/12/18/24 on the last feature map, summed,
    bilinear upsampling to the input size.

    As in the paper each ASPP branch is itself a classifier (``num_classes``
    outputs, bias, no normalisation). The fully connected CRF
    post-processing of the paper is not part of the model. At
    ``output_stride=16`` the rates are halved to cover the same image area.

    Args:
        num_classes: number of output classes.
        input_shape: ``(H, W, C)``; H/W may be None. C != 3 needs weights=None.
        backbone: one of ``kseg.backbones.available()`` (paper: resnet101).
        output_stride: 8 (paper) or 16.
        weights: backbone weights: None, ``"imagenet"`` or a file path.

    Returns:
        ``keras.Model`` named ``"deeplab_v2"``: float32 raw pixels
        ``(B, H, W, C)`` -> float32 logits ``(B, H, W, num_classes)``.
    """
    if output_stride not in (8, 16):
        raise ValueError(f"deeplab_v2: `output_stride` must be 8 or 16, got {output_stride!r}.")
    images, features = backbone_features(
        "deeplab_v2", num_classes=num_classes, input_shape=input_shape, backbone=backbone,
        weights=weights, output_stride=output_stride,
    )
    rates = tuple(r * 8 // output_stride for r in ASPP_RATES_OS8)
    x = ASPP(num_classes, rates, image_pooling=False, merge="sum", name="aspp")(features[output_stride])
    x = ResizeLike("bilinear", name="upsample_logits")([x, images])
    return keras.Model(images, float32_logits(x), name="deeplab_v2")
