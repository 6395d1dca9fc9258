"""DeepLab V3 (Chen et al. 2017, "Rethinking Atrous Convolution for Semantic
Image Segmentation"): dilated backbone + ASPP with image pooling.

Also holds the pieces the other dilated/pyramid builders share
(``backbone_features``, ``classify_at_input_size``).
"""

import keras

from kseg._checks import is_int_sequence
from kseg.backbones import build_backbone
from kseg.layers import ASPP, ResizeLike
from kseg.models._blocks import check_builder_args, check_rate, float32_logits, image_input
from kseg.models.registry import register

# ASPP rates of the paper at output stride 16; they double at stride 8 and
# halve at stride 32, so each branch covers the same image area.
ASPP_RATES_OS16 = (6, 12, 18)
OUTPUT_STRIDES = (8, 16, 32)


def check_output_stride(output_stride, *, builder):
    if output_stride not in OUTPUT_STRIDES or isinstance(output_stride, bool):
        raise ValueError(f"{builder}: `output_stride` must be 32, 16 or 8, got {output_stride!r}.")
    return output_stride


def aspp_rates_for(rates, output_stride, *, builder, base_rates=ASPP_RATES_OS16, base_stride=16):
    """The ASPP rates a builder uses.

    ``rates=None``: ``base_rates`` (given at ``base_stride``) scaled to
    ``output_stride``: (12, 24, 36) at 8, (6, 12, 18) at 16, (3, 6, 9) at 32.
    Otherwise ``rates`` itself, a possibly empty list of positive ints
    (``()`` = light ASPP, 1x1 branch and image pooling only).
    """
    check_output_stride(output_stride, builder=builder)
    if rates is None:
        return tuple(r * base_stride // output_stride for r in base_rates)
    if not is_int_sequence(rates):
        raise ValueError(
            f"{builder}: `aspp_rates` must be None (the paper's rates for the output stride), () (light ASPP: "
            f"1x1 branch and image pooling only) or a list of positive ints; got {rates!r}."
        )
    return tuple(int(r) for r in rates)


def check_flag(value, name, *, builder):
    if not isinstance(value, bool):
        raise ValueError(f"{builder}: `{name}` must be True or False, got {value!r}.")
    return value


def backbone_features(builder, *, num_classes, input_shape, backbone, weights, output_stride):
    """Model input and the backbone's feature taps.

    Returns ``(images, features)``: ``images`` is the float32 raw-pixel input
    ``(B, H, W, C)``; ``features`` maps stride -> Keras tensor.
    """
    shape = check_builder_args(builder, num_classes, input_shape)
    images = image_input(shape)
    net = build_backbone(
        backbone, input_tensor=images, weights=weights, output_stride=output_stride
    )
    return images, net.features


def classify_at_input_size(x, images, num_classes):
    """1x1 classifier, bilinear resize to the input's size, float32 logits.

    ``x``: ``(B, h, w, C)``; returns ``(B, H, W, num_classes)`` float32.
    """
    x = keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
    x = ResizeLike("bilinear", name="upsample_logits")([x, images])
    return float32_logits(x)


def aspp_encoder(builder, *, num_classes, input_shape, backbone, weights, output_stride,
                 aspp_filters, dropout, aspp_rates=None, separable=False):
    """Dilated backbone + concat-ASPP with image pooling (shared with V3+).

    Returns ``(images, features, aspp_output)``; ``aspp_output`` is
    ``(B, H/os, W/os, aspp_filters)``.
    """
    rates = aspp_rates_for(aspp_rates, output_stride, builder=builder)
    separable = check_flag(separable, "separable", builder=builder)
    dropout = check_rate(builder, "dropout", dropout)
    images, features = backbone_features(
        builder, num_classes=num_classes, input_shape=input_shape, backbone=backbone,
        weights=weights, output_stride=output_stride,
    )
    x = ASPP(aspp_filters, rates, image_pooling=True, merge="concat", dropout=dropout, separable=separable,
             name="aspp")(features[output_stride])
    return images, features, x


@register("deeplab_v3")
def deeplab_v3(*, num_classes, input_shape=(None, None, 3), backbone="resnet50",
               output_stride=16, weights=None, aspp_filters=256, dropout=0.1, aspp_rates=None,
               separable=False):
    """DeepLab V3: dilated backbone, ASPP (1x1, three 3x3 at rates 6/12/18,
    image pooling; rates doubled at output stride 8), 1x1 projection, 1x1
    classifier, bilinear upsampling to the input size.

    ``output_stride=32`` keeps the backbone undilated (as keras-hub and
    keras-cv run it): about a quarter of the ASPP cost of stride 16 and
    coarser maps. ``aspp_rates=()`` with ``separable=True`` is DeepLab's
    mobile head (MobileNetV2 with 1x1 + image-pooling ASPP).

    Args:
        num_classes: number of output classes.
        input_shape: ``(H, W, C)``; H/W may be None. C != 3 needs weights=None.
        backbone: one of ``kseg.backbones.available()``.
        output_stride: 16 (paper), 8 (dilated backbone) or 32 (no dilation).
        weights: backbone weights: None, ``"imagenet"`` or a file path.
        aspp_filters: channels of every ASPP branch and its projection.
        dropout: dropout after the ASPP projection (0.1 as in the reference
            TensorFlow implementation; the paper does not state it).
        aspp_rates: dilation rates of the 3x3 ASPP branches. None: the
            paper's 6/12/18 scaled to the output stride (12/24/36 at 8,
            3/6/9 at 32, same image area); ``()``: light ASPP (1x1 branch
            and image pooling only); or any list of positive ints.
        separable: 3x3 ASPP branches as depthwise-separable convolutions
            (depthwise 3x3 + BN + ReLU + 1x1 + BN + ReLU, as in DeepLab V3+).

    Returns:
        ``keras.Model`` named ``"deeplab_v3"``: float32 raw pixels
        ``(B, H, W, C)`` -> float32 logits ``(B, H, W, num_classes)``.
    """
    images, _, x = aspp_encoder(
        "deeplab_v3", num_classes=num_classes, input_shape=input_shape, backbone=backbone,
        weights=weights, output_stride=output_stride, aspp_filters=aspp_filters, dropout=dropout,
        aspp_rates=aspp_rates, separable=separable,
    )
    return keras.Model(images, classify_at_input_size(x, images, num_classes), name="deeplab_v3")
