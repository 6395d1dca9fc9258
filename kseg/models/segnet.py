"""SegNet and SegNet-Basic (Badrinarayanan, Kendall and Cipolla, TPAMI 2017).

The encoder max-pools with ``MaxPoolingWithArgmax2D`` and keeps the argmax
indices; each decoder stage puts its input back at exactly those positions
with ``MaxUnpooling2D`` (zeros elsewhere) and densifies the sparse map with
convolutions. No encoder features are concatenated: only the indices cross
from encoder to decoder, which is what makes SegNet memory-light.

Pooling uses "same" padding and unpooling takes the pre-pool tensor as its
size reference, so odd sizes round-trip (45 -> 23 -> 45) and any input size
works without padding the image.

Departures from the Caffe reference, and why:

* Decoder convolutions drop their bias (batch norm's beta replaces it);
  encoder convolutions keep theirs so VGG16 ImageNet weights load
  unchanged. ``segnet`` at 11 classes: 29,461,515 parameters (15,872 of
  them batch-norm moving statistics), paper 29.5M.
* SegNet-Basic's local response normalisation of the input is replaced by
  scaling pixels to [-1, 1] (the graph has no LRN, which TFLite's builtin
  set lacks for most delegates, and batch norm follows the first conv
  anyway).

``upsampling`` swaps the decoder's unpooling for another x2 upsampler and
leaves everything else as it is, to measure what the indices are worth
(benchmarks/upsampling_ablation.py): ``"transposed"`` (learnable 4x4
stride-2 ``Conv2DTranspose`` starting as bilinear, ``BilinearKernel``),
``"bilinear"`` or ``"nearest"`` (``Upsample2D``, no weights). Each is
followed by a top-left crop to the pre-pool tensor's size: "same" pooling
pads at the bottom/right, so the crop keeps the original pixel grid and odd
sizes round-trip as with unpooling.
"""

import keras

from kseg.layers import BilinearKernel, MaxPoolingWithArgmax2D, MaxUnpooling2D, Upsample2D
from kseg._checks import check_int
from kseg.models._blocks import (
    VGG16_BLOCKS,
    CropToReference,
    check_builder_args,
    conv_bn_relu,
    float32_logits,
    image_input,
    normalize,
    load_vgg16_weights,
    vgg16_block,
)
from kseg.models.registry import register


def _pool(x, name, with_indices=True):
    """2x2 max pooling; returns ``(pooled, indices, reference)`` for the decoder.

    Without indices (decoders that do not unpool) it is a plain
    ``MaxPooling2D`` with the same output, so no argmax is computed for
    nothing and the timing comparison stays fair; ``indices`` is then None.
    """
    if not with_indices:
        return keras.layers.MaxPooling2D(2, padding="same", name=name)(x), None, x
    pooled, indices = MaxPoolingWithArgmax2D(2, padding="same", name=name)(x)
    return pooled, indices, x


UPSAMPLING_METHODS = ("unpool", "transposed", "bilinear", "nearest")


def _check_upsampling(builder, upsampling):
    if not isinstance(upsampling, str) or upsampling not in UPSAMPLING_METHODS:
        raise ValueError(
            f"{builder}: `upsampling` must be one of {', '.join(map(repr, UPSAMPLING_METHODS))}; "
            f"got {upsampling!r}."
        )
    return upsampling


def _upsample(x, pool_record, prefix, method):
    """x2 decoder upsampling back to the pre-pool tensor's exact size.

    ``"unpool"`` keeps the historical layer name ``{prefix}_unpool``; the
    others are ``{prefix}_upsample`` plus ``{prefix}_crop``.
    """
    _, indices, reference = pool_record
    if method == "unpool":
        return MaxUnpooling2D(2, name=f"{prefix}_unpool")([x, indices, reference])
    if method == "transposed":
        x = keras.layers.Conv2DTranspose(
            x.shape[-1], 4, strides=2, padding="same", kernel_initializer=BilinearKernel(),
            name=f"{prefix}_upsample",
        )(x)
    else:
        x = Upsample2D(2, interpolation=method, name=f"{prefix}_upsample")(x)
    return CropToReference(name=f"{prefix}_crop")([x, reference])


@register("segnet")
def segnet(*, num_classes, input_shape=(None, None, 3), base_filters=64, weights=None, upsampling="unpool"):
    """SegNet: VGG16 encoder (13 convs + batch norm) and its mirrored decoder.

    Decoder block ``b`` unpools with the indices of encoder pool ``b``,
    then applies as many 3x3 conv-BN-ReLU units as encoder block ``b``; its
    last one narrows to the next block's width, and the very last one is
    the 3x3 classifier (no BN, no ReLU), as in the Caffe model.

    Args:
        num_classes: number of output classes.
        input_shape: ``(H, W, C)``; H and W may be None; any size works.
        base_filters: width of the first block (64 in VGG16); every block
            scales with it, e.g. 16 gives a 1/16-parameter model for CPU
            work. Pretrained ``weights`` need 64.
        weights: None, ``"imagenet"`` (downloads) or a path to a
            keras.applications VGG16 weights file, loaded into the encoder's
            ``block{i}_conv{j}`` layers. Needs 3 input channels.
        upsampling: the decoder's x2 upsampler: ``"unpool"`` (SegNet's
            argmax unpooling), ``"transposed"``, ``"bilinear"`` or
            ``"nearest"`` (module docstring).

    Returns:
        A ``keras.Model`` named ``"segnet"``: float32 images ``(B, H, W, C)``
        with raw pixel values in [0, 255] -> float32 logits
        ``(B, H, W, num_classes)``.
    """
    input_shape = check_builder_args("segnet", num_classes, input_shape)
    base_filters = check_int(base_filters, "`base_filters`", context="segnet")
    upsampling = _check_upsampling("segnet", upsampling)
    if weights is not None and base_filters != 64:
        raise ValueError(f"segnet: pretrained `weights` need base_filters=64, got {base_filters}.")
    widths = [filters * base_filters // 64 or 1 for filters, _ in VGG16_BLOCKS]
    inputs = image_input(input_shape)
    x = normalize(inputs, "caffe")
    records = []
    for block in range(1, len(VGG16_BLOCKS) + 1):
        x = vgg16_block(x, block, batch_norm=True, filters=widths[block - 1])
        record = _pool(x, f"block{block}_pool", with_indices=upsampling == "unpool")
        x = record[0]
        records.append(record)

    for block in range(len(VGG16_BLOCKS), 0, -1):
        filters, convs = widths[block - 1], VGG16_BLOCKS[block - 1][1]
        x = _upsample(x, records[block - 1], f"decoder_block{block}", upsampling)
        # Mirror of the encoder: convs counted down, the last one narrows.
        for j in range(convs, 1, -1):
            x = conv_bn_relu(x, filters, 3, name=f"decoder_block{block}_conv{j}")
        if block > 1:
            x = conv_bn_relu(x, widths[block - 2], 3, name=f"decoder_block{block}_conv1")
    x = keras.layers.Conv2D(num_classes, 3, padding="same", name="classifier")(x)
    model = keras.Model(inputs, float32_logits(x), name="segnet")
    load_vgg16_weights(model, weights, builder="segnet")
    return model


@register("segnet_basic")
def segnet_basic(*, num_classes, input_shape=(None, None, 3), filters=64, kernel_size=7, stages=4,
                 upsampling="unpool"):
    """SegNet-Basic: ``stages`` encoder and decoder stages of 7x7 convolutions.

    Encoder stage: conv (no bias) -> BN -> ReLU -> argmax pooling. Decoder
    stage: unpooling with the matching indices -> conv (no bias) -> BN, with
    no ReLU, as in the paper. A 1x1 convolution classifies.
    Parameters at the paper's configuration (64 filters, 7x7, 4 stages, 3
    input channels): ``1,416,384 + 65 * num_classes`` (1,417,099 for
    CamVid's 11 classes), of which 1,024 are BN moving statistics.

    Args:
        num_classes: number of output classes.
        input_shape: ``(H, W, C)``, any channel count; H and W may be None;
            any size works.
        filters: width of every stage (64 in the paper).
        kernel_size: kernel size of every convolution (7 in the paper).
        stages: number of encoder (and decoder) stages (4 in the paper).
        upsampling: the decoder's x2 upsampler: ``"unpool"`` (the paper),
            ``"transposed"`` (adds ``stages * (16 * filters**2 + filters)``
            parameters), ``"bilinear"`` or ``"nearest"`` (module docstring).

    Returns:
        A ``keras.Model`` named ``"segnet_basic"``: float32 images
        ``(B, H, W, C)`` with raw pixel values in [0, 255] -> float32 logits
        ``(B, H, W, num_classes)``.
    """
    input_shape = check_builder_args("segnet_basic", num_classes, input_shape)
    filters = check_int(filters, "`filters`", context="segnet_basic")
    kernel_size = check_int(kernel_size, "`kernel_size`", context="segnet_basic")
    stages = check_int(stages, "`stages`", context="segnet_basic")
    upsampling = _check_upsampling("segnet_basic", upsampling)

    inputs = image_input(input_shape)
    x = normalize(inputs, "tf")
    records = []
    for stage in range(1, stages + 1):
        x = conv_bn_relu(x, filters, kernel_size, name=f"encoder_block{stage}_conv")
        record = _pool(x, f"encoder_block{stage}_pool", with_indices=upsampling == "unpool")
        x = record[0]
        records.append(record)
    for stage in range(stages, 0, -1):
        x = _upsample(x, records[stage - 1], f"decoder_block{stage}", upsampling)
        x = conv_bn_relu(x, filters, kernel_size, name=f"decoder_block{stage}_conv", activation=None)
    x = keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
    return keras.Model(inputs, float32_logits(x), name="segnet_basic")
