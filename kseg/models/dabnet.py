"""DABNet (Li, Xiong, Kong and Yang, BMVC 2019, "DABNet: Depth-wise
Asymmetric Bottleneck for Real-time Semantic Segmentation").

A light network built from dilated convolutions: three convolutions at
stride 2, then two stages of Depth-wise Asymmetric Bottleneck (DAB) modules
at output stride 4 and 8. Each DAB module reduces the channels by half with
a 3x3 convolution, then runs two depthwise branches of factorised 3x1 + 1x3
kernels, one plain and one dilated (rate 2 in stage 1, 4/4/8/8/16/16 in stage
2), adds them and projects back with a 1x1 convolution and a residual. The
input image, average-pooled to each stride ("input injection"), is
concatenated before each downsampling. A 1x1 classifier at stride 8 and a
bilinear x8 resize give the logits.

``stride4_skip=True`` (not in the paper) adds an FCN-style skip: a 1x1
convolution of stage 1's stride-4 features, resized x4 and added to the
resized logits. The skip's kernel starts at zero, so a model with it
computes exactly what the same weights without it compute, and starts from
such a model's file (``kseg.models.load_weights_reheaded``). It targets the
classes a stride-8 map cannot draw: CamVid's poles and fences are a few
pixels wide.

Receptive field at the paper's configuration: ``kseg.layers.receptive_field``
gives 1087 x 1087 pixels (theoretical, stride 8), more than twice the size of
a 360x480 CamVid frame, from 0.76M parameters.

Departures from the reference PyTorch code (github.com/Reagan1311/DABNet),
all for "any input size" and export: "same" padding everywhere (sizes
``ceil(H/2^k)``, so any H, W works; PyTorch needs multiples of 8), and the
average pooling of the input injection ignores the zero padding at the
border (TF's "same" pooling; PyTorch's ``AvgPool2d`` counts it). The
classifier has a bias (PyTorch's has none): ``num_classes`` more weights.

``activation`` swaps the paper's PReLU for an activation that mobile int8
runtimes fuse into the preceding convolution or add: the TFLite XNNPACK
delegate has no int8 PRELU (it falls back to a slow reference kernel and
splits the delegated graph; docs/deployment.md), while RELU/RELU6 fuse and
LEAKY_RELU is delegated. Layers are named ``<unit>_<activation>``
(``stem_conv1_prelu``, ``stem_conv1_relu``), so every convolution and batch
norm keeps its name whatever the activation.
"""

import keras

from kseg.layers import ResizeLike
from kseg._checks import check_int, is_int_sequence
from kseg.models._blocks import check_builder_args, float32_logits, image_input, normalize
from kseg.models.registry import register

# Dilation rates of the DAB modules of stage 2, from the paper (Table 1).
STAGE2_DILATIONS = (4, 4, 8, 8, 16, 16)
# BatchNorm of the reference implementation: epsilon 1e-3, PyTorch's default
# momentum 0.1, i.e. Keras momentum 0.9. Keras's default 0.99 left the moving
# statistics so far behind on CamVid from scratch that after 4 epochs
# (180 steps) inference-mode val mIoU was 0.107 against 0.339 with batch
# statistics on the same images.
_BN_EPSILON = 1e-3
_BN_MOMENTUM = 0.9
# LeakyReLU's slope when ``activation="leaky_relu"`` (PReLU's alphas start at 0
# and the trained v5 alphas are mostly small and positive).
_LEAKY_SLOPE = 0.1
ACTIVATIONS = ("prelu", "relu", "relu6", "leaky_relu")


def _activation_layer(activation, name):
    if activation == "prelu":
        return keras.layers.PReLU(shared_axes=[1, 2], name=name)
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name=name)
    return keras.layers.ReLU(max_value=6.0 if activation == "relu6" else None, name=name)


def _bn_act(x, name, activation):
    x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    return _activation_layer(activation, f"{name}_{activation}")(x)


def _conv(x, filters, kernel_size, *, name, activation, strides=1):
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False, name=name)(x)
    return _bn_act(x, name, activation)


def _depthwise(x, kernel_size, dilation_rate, *, name, activation):
    x = keras.layers.DepthwiseConv2D(
        kernel_size, padding="same", dilation_rate=dilation_rate, use_bias=False, name=name
    )(x)
    return _bn_act(x, name, activation)


def dab_module(x, dilation, *, name, activation="prelu"):
    """One Depth-wise Asymmetric Bottleneck module; ``(B, h, w, C) -> (B, h, w, C)``, C even."""
    channels = x.shape[-1]
    y = _bn_act(x, f"{name}_in", activation)
    y = _conv(y, channels // 2, 3, name=f"{name}_conv3x3", activation=activation)
    plain = _depthwise(y, (3, 1), 1, name=f"{name}_dconv3x1", activation=activation)
    plain = _depthwise(plain, (1, 3), 1, name=f"{name}_dconv1x3", activation=activation)
    dilated = _depthwise(y, (3, 1), (dilation, 1), name=f"{name}_ddconv3x1", activation=activation)
    dilated = _depthwise(dilated, (1, 3), (1, dilation), name=f"{name}_ddconv1x3", activation=activation)
    y = keras.layers.Add(name=f"{name}_branches")([plain, dilated])
    y = _bn_act(y, f"{name}_out", activation)
    y = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_conv1x1")(y)
    return keras.layers.Add(name=f"{name}_residual")([y, x])


def downsampling_block(x, filters, *, name, activation="prelu"):
    """ENet-style downsampling: a stride-2 3x3 convolution, concatenated with
    a 2x2 max pooling of the input when the width grows; ``(B, h, w, c) ->
    (B, ceil(h/2), ceil(w/2), filters)``."""
    channels = x.shape[-1]
    conv_filters = filters - channels if channels < filters else filters
    y = keras.layers.Conv2D(conv_filters, 3, strides=2, padding="same", use_bias=False, name=f"{name}_conv")(x)
    if channels < filters:
        pooled = keras.layers.MaxPooling2D(2, padding="same", name=f"{name}_pool")(x)
        y = keras.layers.Concatenate(name=f"{name}_concat")([y, pooled])
    return _bn_act(y, name, activation)


def _input_injection(x, times, name):
    for i in range(1, times + 1):
        x = keras.layers.AveragePooling2D(3, strides=2, padding="same", name=f"{name}_pool{i}")(x)
    return x


@register("dabnet", head=("classifier", "skip4_classifier"))
def dabnet(*, num_classes, input_shape=(None, None, 3), stem_filters=32, stage1_filters=64,
           stage2_filters=128, stage1_blocks=3, stage1_dilation=2, stage2_dilations=STAGE2_DILATIONS,
           activation="prelu", stride4_skip=False):
    """DABNet: stem (3 convs, stride 2) -> downsampling + ``stage1_blocks`` DAB
    modules (stride 4, dilation ``stage1_dilation``) -> downsampling + one DAB
    module per entry of ``stage2_dilations`` (stride 8) -> 1x1 classifier ->
    bilinear resize to the input size.

    Parameters at the paper's configuration (32/64/128 widths, 3 + 6 modules,
    3 input channels): 763,688 for CamVid's 11 classes (760,828 + 260 per
    class), of which 9,106 are BatchNorm moving statistics; 6.73 GFLOPs
    (2 x multiply-adds) at 360x480 (``kseg.models.flops``).

    Args:
        num_classes: number of output classes.
        input_shape: ``(H, W, C)``; H and W may be None; any size works.
        stem_filters: width of the three stem convolutions (32).
        stage1_filters: width of stage 1 (64); must be even.
        stage2_filters: width of stage 2 (128); must be even.
        stage1_blocks: DAB modules in stage 1 (3).
        stage1_dilation: dilation of stage 1's dilated branch (2).
        stage2_dilations: dilation of each stage 2 module (4, 4, 8, 8, 16, 16).
        activation: after every batch norm: ``"prelu"`` (the paper's, one
            learned slope per channel), ``"relu"``, ``"relu6"`` or
            ``"leaky_relu"`` (slope 0.1). ReLU/ReLU6 fuse into the int8
            convolutions of a TFLite file; PReLU has no int8 XNNPACK kernel.
            Without PReLU the model has 4,553 fewer parameters (the slopes).
        stride4_skip: add the stride-4 skip (module docstring; not in the
            paper): ``(2 * stage1_filters + 3) * num_classes``
            more weights (1,441 for CamVid at the paper's widths), its
            kernel zero at the start.

    Returns:
        ``keras.Model`` named ``"dabnet"``: float32 raw pixels ``(B, H, W, C)``
        in [0, 255] -> float32 logits ``(B, H, W, num_classes)``.
    """
    builder = "dabnet"
    shape = check_builder_args(builder, num_classes, input_shape)
    stem_filters = check_int(stem_filters, "`stem_filters`", context=builder)
    stage1_blocks = check_int(stage1_blocks, "`stage1_blocks`", context=builder, minimum=0)
    stage1_dilation = check_int(stage1_dilation, "`stage1_dilation`", context=builder)
    widths = {}
    for arg, value in (("stage1_filters", stage1_filters), ("stage2_filters", stage2_filters)):
        widths[arg] = check_int(value, f"`{arg}`", context=builder, minimum=2)
        if widths[arg] % 2:
            raise ValueError(f"{builder}: `{arg}` must be even (a DAB module halves it), got {value!r}.")
    if activation not in ACTIVATIONS:
        raise ValueError(f"{builder}: `activation` must be one of {', '.join(ACTIVATIONS)}; got {activation!r}.")
    if not isinstance(stride4_skip, bool):
        raise ValueError(f"{builder}: `stride4_skip` must be True or False, got {stride4_skip!r}.")
    if not is_int_sequence(stage2_dilations, allow_empty=False):
        raise ValueError(f"{builder}: `stage2_dilations` must be a non-empty list of positive ints, "
                         f"got {stage2_dilations!r}.")

    images = image_input(shape)
    x = normalize(images, "tf")
    act = activation
    stem = _conv(x, stem_filters, 3, strides=2, name="stem_conv1", activation=act)
    stem = _conv(stem, stem_filters, 3, name="stem_conv2", activation=act)
    stem = _conv(stem, stem_filters, 3, name="stem_conv3", activation=act)
    injected = [_input_injection(x, k, f"input_injection{k}") for k in (1, 2, 3)]
    x = _bn_act(keras.layers.Concatenate(name="stage0_concat")([stem, injected[0]]), "stage0", act)

    stage_input = downsampling_block(x, widths["stage1_filters"], name="stage1_down", activation=act)
    x = stage_input
    for i in range(stage1_blocks):
        x = dab_module(x, stage1_dilation, name=f"stage1_dab{i + 1}", activation=act)
    x = keras.layers.Concatenate(name="stage1_concat")([x, stage_input, injected[1]])
    x = stride4 = _bn_act(x, "stage1", act)

    stage_input = downsampling_block(x, widths["stage2_filters"], name="stage2_down", activation=act)
    x = stage_input
    for i, dilation in enumerate(stage2_dilations):
        x = dab_module(x, dilation, name=f"stage2_dab{i + 1}", activation=act)
    x = keras.layers.Concatenate(name="stage2_concat")([x, stage_input, injected[2]])
    x = _bn_act(x, "stage2", act)

    x = keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
    x = ResizeLike("bilinear", name="upsample_logits")([x, images])
    if stride4_skip:  # resized on its own: bilinear resizing is linear, so a zero skip changes nothing
        skip = keras.layers.Conv2D(num_classes, 1, use_bias=False, kernel_initializer="zeros",
                                   name="skip4_classifier")(stride4)
        skip = ResizeLike("bilinear", name="skip4_upsample")([skip, images])
        x = keras.layers.Add(name="skip4_add")([x, skip])
    return keras.Model(images, float32_logits(x), name="dabnet")
