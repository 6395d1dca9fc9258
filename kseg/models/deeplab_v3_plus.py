"""DeepLab V3+ (Chen et al. 2018, "Encoder-Decoder with Atrous Separable
Convolution for Semantic Image Segmentation")."""

import keras

from kseg.layers import ResizeLike
from kseg.layers.aspp import conv_bn_relu_layers, run_layers
from kseg._checks import check_int
from kseg.models._blocks import conv_bn_relu
from kseg.models.deeplab_v3 import aspp_encoder, classify_at_input_size
from kseg.models.registry import register

# Stride of the low-level features the decoder fuses.
LOW_LEVEL_STRIDE = 4


@register("deeplab_v3_plus")
def deeplab_v3_plus(*, num_classes, input_shape=(None, None, 3), backbone="resnet50",
                    output_stride=16, weights=None, aspp_filters=256, dropout=0.1,
                    low_level_filters=48, decoder_filters=256, aspp_rates=None, separable=False):
    """DeepLab V3+: the DeepLab V3 encoder plus a decoder.

    Decoder: ASPP output upsampled (bilinear) to the backbone's stride-4
    features, which are first reduced by a 1x1 conv to ``low_level_filters``
    (48) channels; concatenation; two 3x3 convs with ``decoder_filters``
    (256) channels, batch norm and ReLU; 1x1 classifier; bilinear
    upsampling (x4) to the input size.

    ``separable=True`` makes the ASPP's 3x3 branches and both decoder 3x3
    convs depthwise separable (depthwise 3x3 + BN + ReLU + 1x1 + BN + ReLU),
    as the paper does; the default keeps plain 3x3 convolutions. The paper's
    Xception is the "aligned" one (strided separable convs instead of max
    pooling); here the keras.applications Xception is used.

    Configurations:

    * paper (default): ``output_stride=16``, rates 6/12/18, plain 3x3 decoder.
    * fast: ``output_stride=32`` (undilated backbone, as keras-hub and
      keras-cv run it) and ``separable=True``: with a ResNet-50 about a
      third of the paper setting's FLOPs (11.8 vs 38.6 GFLOPs at 256x256;
      keras-hub's V3+ is 17.7), coarser ASPP maps.
    * mobile (DeepLab's MobileNetV2 setting): ``backbone="mobilenet_v2",
      aspp_rates=(), separable=True`` with narrow ``aspp_filters`` /
      ``decoder_filters``: 64 each (``low_level_filters=48``, 12 classes)
      is 2.45 M parameters and a 2.80 MiB int8 TFLite at 257x257.

    Args:
        num_classes: number of output classes.
        input_shape: ``(H, W, C)``; H/W may be None. C != 3 needs weights=None.
        backbone: one of ``kseg.backbones.available()``.
        output_stride: 16 (paper), 8 or 32 (ASPP rates 6/12/18, 12/24/36 or
            3/6/9 unless ``aspp_rates`` is given).
        weights: backbone weights: None, ``"imagenet"`` or a file path.
        aspp_filters: channels of the ASPP branches and projection.
        dropout: dropout after the ASPP projection.
        low_level_filters: channels the stride-4 features are reduced to.
        decoder_filters: channels of the two decoder 3x3 convolutions.
        aspp_rates: None (the paper's rates for ``output_stride``), ``()``
            (light ASPP: 1x1 branch and image pooling) or a list of
            positive ints.
        separable: depthwise-separable 3x3 convs in the ASPP and decoder.

    Returns:
        ``keras.Model`` named ``"deeplab_v3_plus"``: float32 raw pixels
        ``(B, H, W, C)`` -> float32 logits ``(B, H, W, num_classes)``.
    """
    low_level_filters = check_int(low_level_filters, "`low_level_filters`", context="deeplab_v3_plus")
    decoder_filters = check_int(decoder_filters, "`decoder_filters`", context="deeplab_v3_plus")
    images, features, x = aspp_encoder(
        "deeplab_v3_plus", num_classes=num_classes, input_shape=input_shape, backbone=backbone,
        weights=weights, output_stride=output_stride, aspp_filters=aspp_filters, dropout=dropout,
        aspp_rates=aspp_rates, separable=separable,
    )
    low = conv_bn_relu(features[LOW_LEVEL_STRIDE], low_level_filters, 1, name="decoder_lowlevel_conv")
    # Resizing to the tap (not a fixed x4) keeps any input size aligned.
    x = ResizeLike("bilinear", name="decoder_upsample")([x, low])
    x = keras.layers.Concatenate(name="decoder_concat")([x, low])
    for i in (1, 2):
        name = f"decoder_conv{i}"
        x = run_layers(conv_bn_relu_layers(decoder_filters, 3, name=name, conv_name=name, separable=separable), x)
    return keras.Model(images, classify_at_input_size(x, images, num_classes), name="deeplab_v3_plus")
