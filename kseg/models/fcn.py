"""FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer and Darrell, CVPR 2015).

A VGG16 encoder whose classifier becomes convolutions (fc6: 7x7, fc7: 1x1),
a 1x1 class scorer, and learnable transposed-convolution upsampling
initialised to bilinear interpolation. FCN-16s and FCN-8s fuse scores from
pool4 and pool3 before the final upsampling.

Departures from the Caffe reference, and why:

* Alignment. The paper pads the first convolution by 100 pixels and
  crops every upsampled map with hand-computed offsets, so that fc6 (a
  "valid" 7x7) sees enough context for any input. Here the normalised
  input is zero-padded at the bottom/right to a multiple of 32 inside the
  graph (``PadToMultiple``), fc6 uses "same" padding, every transposed
  convolution has kernel ``2s``/stride ``s``/"same" padding (the Caffe
  bilinear alignment), and the prediction is cropped back to the input size
  (``CropToReference``). Skip maps then align exactly without crop offsets
  or interpolation, any input size works (including below 32 pixels, which
  the paper's padding was also designed to allow), and no compute is spent
  on 100-pixel borders.
* Parameters. FCN-8s with 21 classes has 134,489,759 parameters here, the
  Caffe model ~134.5M: the layers and shapes are the same (score layers
  with bias, transposed convolutions without). fc6/fc7 are convolutions, so
  ImageNet classifier weights of the Dense layers are not loaded (the paper
  reshaped them); only the 13 encoder convolutions load from ``weights``.
* ``fc_channels`` narrows fc6/fc7 (4096 in the paper); 512 gives a 28.0M
  parameter model that trains on CPU.
"""

import keras

from kseg.backbones import build_backbone, preprocess_mode
from kseg.layers import BilinearKernel
from kseg._checks import check_int
from kseg.models._blocks import (
    CropToReference,
    PadToMultiple,
    check_builder_args,
    check_rate,
    float32_logits,
    image_input,
    normalize,
)
from kseg.models.registry import register

_STRIDE_NAMES = {32: "fcn32s", 16: "fcn16s", 8: "fcn8s"}


def _upscore(x, num_classes, factor, name):
    """Learnable x``factor`` upsampling initialised to bilinear interpolation."""
    return keras.layers.Conv2DTranspose(
        num_classes,
        2 * factor,
        strides=factor,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearKernel(),
        name=name,
    )(x)


def _score(x, num_classes, name, zero_init):
    # The paper zero-initialises the skip scorers so a fresh FCN-16s/8s starts
    # out computing exactly what its coarser parent computes.
    return keras.layers.Conv2D(
        num_classes, 1, kernel_initializer="zeros" if zero_init else "glorot_uniform", name=name
    )(x)


def _fcn(output_stride, *, num_classes, input_shape, fc_channels, dropout, weights):
    name = _STRIDE_NAMES[output_stride]
    input_shape = check_builder_args(name, num_classes, input_shape)
    fc_channels = check_int(fc_channels, "`fc_channels`", context=name)
    dropout = check_rate(name, "dropout", dropout)

    inputs = image_input(input_shape)
    x = PadToMultiple(32, name="pad_to_32")(normalize(inputs, preprocess_mode("vgg16")))
    # Built on our tensor, the backbone's layers join this graph directly.
    encoder = build_backbone("vgg16", input_tensor=x, weights=weights, preprocessing=False)
    pools = {block: encoder.get_layer(f"block{block}_pool").output for block in (3, 4, 5)}
    x = pools[5]

    x = keras.layers.Conv2D(fc_channels, 7, padding="same", activation="relu", name="fc6")(x)
    x = keras.layers.Dropout(dropout, name="drop6")(x)
    x = keras.layers.Conv2D(fc_channels, 1, activation="relu", name="fc7")(x)
    x = keras.layers.Dropout(dropout, name="drop7")(x)
    score = _score(x, num_classes, "score_fr", zero_init=False)

    if output_stride == 32:
        score = _upscore(score, num_classes, 32, "upscore32")
    else:
        score = _upscore(score, num_classes, 2, "upscore2")
        score_pool4 = _score(pools[4], num_classes, "score_pool4", zero_init=True)
        score = keras.layers.Add(name="fuse_pool4")([score, score_pool4])
        if output_stride == 16:
            score = _upscore(score, num_classes, 16, "upscore16")
        else:
            score = _upscore(score, num_classes, 2, "upscore_pool4")
            score_pool3 = _score(pools[3], num_classes, "score_pool3", zero_init=True)
            score = keras.layers.Add(name="fuse_pool3")([score, score_pool3])
            score = _upscore(score, num_classes, 8, "upscore8")

    score = CropToReference(name="crop_to_input")([score, inputs])
    return keras.Model(inputs, float32_logits(score), name=name)


_ARGS_DOC = """
    Args:
        num_classes: number of output classes.
        input_shape: ``(H, W, C)``; H and W may be None. Any size works:
            the graph pads to a multiple of 32 and crops back.
        fc_channels: width of fc6/fc7 (4096 in the paper; e.g. 512 for CPU).
        dropout: dropout rate after fc6 and fc7 (0.5 in the paper).
        weights: None, ``"imagenet"`` (downloads) or a path to a
            keras.applications VGG16 weights file, for the 13 encoder
            convolutions. Needs 3 input channels.

    Returns:
        A ``keras.Model`` named ``{name}``: float32 images ``(B, H, W, C)``
        with raw pixel values in [0, 255] -> float32 logits
        ``(B, H, W, num_classes)``.
"""


@register("fcn32s", head=("score_fr", "upscore32"))
def fcn32s(*, num_classes, input_shape=(None, None, 3), fc_channels=4096, dropout=0.5, weights=None):
    return _fcn(32, num_classes=num_classes, input_shape=input_shape, fc_channels=fc_channels,
                dropout=dropout, weights=weights)


@register("fcn16s", head=("score_fr", "score_pool4", "upscore2", "upscore16"))
def fcn16s(*, num_classes, input_shape=(None, None, 3), fc_channels=4096, dropout=0.5, weights=None):
    return _fcn(16, num_classes=num_classes, input_shape=input_shape, fc_channels=fc_channels,
                dropout=dropout, weights=weights)


@register("fcn8s", head=("score_fr", "score_pool4", "score_pool3", "upscore2", "upscore_pool4", "upscore8"))
def fcn8s(*, num_classes, input_shape=(None, None, 3), fc_channels=4096, dropout=0.5, weights=None):
    return _fcn(8, num_classes=num_classes, input_shape=input_shape, fc_channels=fc_channels,
                dropout=dropout, weights=weights)


fcn32s.__doc__ = "FCN-32s: VGG16 scores upsampled x32 in one step." + _ARGS_DOC.format(name="fcn32s")
fcn16s.__doc__ = "FCN-16s: FCN-32s plus a fused pool4 score, upsampled x16." + _ARGS_DOC.format(name="fcn16s")
fcn8s.__doc__ = (
    "FCN-8s: fused pool4 and pool3 scores, upsampled x8 (134.49M parameters at 21 classes)."
    + _ARGS_DOC.format(name="fcn8s")
)
