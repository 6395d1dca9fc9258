"""U-Net (Ronneberger, Fischer and Brox, MICCAI 2015).

A contracting path of double 3x3 convolutions and 2x2 max pooling, an
expanding path that upsamples, concatenates the matching encoder features
and applies two more 3x3 convolutions, and a 1x1 classifier.

Departures from the paper, and why:

* "same" padding instead of "valid": the output covers the whole input, so
  no overlap-tile inference is needed. To make every pooling stage divide
  evenly for any input size, the normalised input is zero-padded at the
  bottom/right to a multiple of ``2**depth`` inside the graph and the
  logits are cropped back (``PadToMultiple`` / ``CropToReference``).
* ``batch_norm=True`` by default (after every 3x3 convolution, which then
  drops its bias): the 2015 network predates batch norm and is hard to
  train from scratch without it. ``batch_norm=False`` is the paper's
  network: 31,031,810 parameters at 2 classes (the paper's ~31.0M);
  with batch norm, 31,049,474 (of which 11,776 are moving statistics).
* ``dropout`` (0 by default) is applied at the end of the contracting path
  as in the paper, where it was 0.5.
* ``upsampling="bilinear"`` replaces the 2x2 transposed convolution with
  fixed bilinear x2 interpolation followed by a 1x1 convolution that halves
  the channels, so the rest of the network is unchanged.
"""

import keras

from kseg.layers import Upsample2D
from kseg._checks import check_int
from kseg.models._blocks import (
    CropToReference,
    PadToMultiple,
    check_builder_args,
    check_rate,
    conv_bn_relu,
    float32_logits,
    image_input,
    normalize,
)
from kseg.models.registry import register


def _double_conv(x, filters, name, batch_norm):
    x = conv_bn_relu(x, filters, 3, name=f"{name}_conv1", batch_norm=batch_norm)
    return conv_bn_relu(x, filters, 3, name=f"{name}_conv2", batch_norm=batch_norm)


def _up(x, filters, name, upsampling):
    if upsampling == "transposed":
        return keras.layers.Conv2DTranspose(filters, 2, strides=2, name=f"{name}_upconv")(x)
    x = Upsample2D(2, interpolation="bilinear", name=f"{name}_upsample")(x)
    return keras.layers.Conv2D(filters, 1, name=f"{name}_upconv")(x)


@register("unet")
def unet(
    *,
    num_classes,
    input_shape=(None, None, 3),
    base_filters=64,
    depth=4,
    upsampling="transposed",
    batch_norm=True,
    dropout=0.0,
):
    """U-Net with ``depth`` pooling stages below the top level.

    Args:
        num_classes: number of output classes.
        input_shape: ``(H, W, C)``, any channel count; H and W may be None.
            Any size works: the graph pads to a multiple of ``2**depth``
            and crops back.
        base_filters: filters at the top level; doubled at every stage
            (64 in the paper, giving 1024 at the bottom for depth 4).
        depth: number of 2x2 poolings (4 in the paper).
        upsampling: ``"transposed"`` (2x2 stride-2 transposed convolution, as
            in the paper) or ``"bilinear"`` (interpolation + 1x1 convolution).
        batch_norm: batch norm after every 3x3 convolution.
        dropout: dropout rate at the bottom of the network.

    Returns:
        A ``keras.Model`` named ``"unet"``: float32 images ``(B, H, W, C)`` with
        raw pixel values in [0, 255] -> float32 logits ``(B, H, W, num_classes)``.
    """
    input_shape = check_builder_args("unet", num_classes, input_shape)
    base_filters = check_int(base_filters, "`base_filters`", context="unet")
    depth = check_int(depth, "`depth`", context="unet")
    dropout = check_rate("unet", "dropout", dropout)
    if upsampling not in ("transposed", "bilinear"):
        raise ValueError(f"unet: `upsampling` must be 'transposed' or 'bilinear', got {upsampling!r}.")
    if not isinstance(batch_norm, bool):
        raise ValueError(f"unet: `batch_norm` must be a bool, got {batch_norm!r}.")

    inputs = image_input(input_shape)
    x = PadToMultiple(2**depth, name=f"pad_to_{2**depth}")(normalize(inputs, "tf"))
    skips = []
    for level in range(depth):
        x = _double_conv(x, base_filters * 2**level, f"encoder_block{level + 1}", batch_norm)
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"encoder_block{level + 1}_pool")(x)

    x = _double_conv(x, base_filters * 2**depth, "bottleneck", batch_norm)
    if dropout:
        x = keras.layers.Dropout(dropout, name="bottleneck_dropout")(x)

    for level in reversed(range(depth)):
        name = f"decoder_block{level + 1}"
        x = _up(x, base_filters * 2**level, name, upsampling)
        x = keras.layers.Concatenate(name=f"{name}_concat")([skips[level], x])
        x = _double_conv(x, base_filters * 2**level, name, batch_norm)

    x = keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
    x = CropToReference(name="crop_to_input")([x, inputs])
    return keras.Model(inputs, float32_logits(x), name="unet")
