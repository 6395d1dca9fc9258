"""Feature-tap backbones on keras.applications, with dilated output stride."""

import dataclasses
import os
import re

import keras

from kseg._batch_norm import BN_MOMENTUM
from kseg.backbones import dilation
from kseg.backbones.pixel_normalization import PixelNormalization

OUTPUT_STRIDES = (8, 16, 32)
MIN_INPUT_SIZE = 32


@dataclasses.dataclass(frozen=True)
class _Spec:
    constructor: callable
    preprocess: str
    # Stride -> name of the last layer at that stride in the original network.
    taps: dict
    # True where 'valid' pooling drops rows unless sizes are multiples of the
    # stride (the feature grid would no longer line up with the image).
    needs_multiple: bool = False


_SPECS = {
    "vgg16": _Spec(
        keras.applications.VGG16,
        "caffe",
        {1: "block1_conv2", 2: "block2_conv2", 4: "block3_conv3", 8: "block4_conv3",
         16: "block5_conv3", 32: "block5_pool"},
        needs_multiple=True,
    ),
    "resnet50": _Spec(
        keras.applications.ResNet50,
        "caffe",
        {2: "conv1_relu", 4: "conv2_block3_out", 8: "conv3_block4_out",
         16: "conv4_block6_out", 32: "conv5_block3_out"},
    ),
    "resnet101": _Spec(
        keras.applications.ResNet101,
        "caffe",
        {2: "conv1_relu", 4: "conv2_block3_out", 8: "conv3_block4_out",
         16: "conv4_block23_out", 32: "conv5_block3_out"},
    ),
    "mobilenet_v2": _Spec(
        keras.applications.MobileNetV2,
        "tf",
        {2: "block_1_expand_relu", 4: "block_3_expand_relu", 8: "block_6_expand_relu",
         16: "block_13_expand_relu", 32: "out_relu"},
    ),
    "xception": _Spec(
        keras.applications.Xception,
        "tf",
        {2: "block1_conv2_act", 4: "block3_sepconv2_bn", 8: "block4_sepconv2_bn",
         16: "block13_sepconv2_bn", 32: "block14_sepconv2_act"},
    ),
}

# Layers keras.applications leaves auto-named ("add_12", "conv2d_4") get a
# different name in every session; give them stable names.
_AUTO_NAME = re.compile(r"^(conv2d|batch_normalization|add|activation)(_\d+)?$")


def available():
    """Sorted names accepted by ``build_backbone``."""
    return sorted(_SPECS)


def _spec(name):
    if name not in _SPECS:
        raise ValueError(f"Unknown backbone {name!r}. Known backbones: {', '.join(available())}.")
    return _SPECS[name]


def preprocess_mode(name):
    """The ``PixelNormalization`` mode that backbone ``name``'s weights expect."""
    return _spec(name).preprocess


def check_input_size(name, height, width, output_stride=32):
    """Raise ValueError unless (height, width) works for backbone ``name``.

    ``None`` (size decided at call time) is accepted.
    """
    spec = _spec(name)
    multiple = output_stride if spec.needs_multiple else 1
    for dim, value in (("height", height), ("width", width)):
        if value is None:
            continue
        if value < MIN_INPUT_SIZE or value % multiple:
            rule = f"at least {MIN_INPUT_SIZE}"
            if multiple > 1:
                rule += f" and a multiple of {multiple} (its pooling drops remainder rows)"
            raise ValueError(
                f"Backbone {name!r} at output_stride={output_stride} needs input height and "
                f"width {rule}; got {dim}={value} in input size {height}x{width}."
            )


def _check_weights(weights, channels):
    if weights is None:
        return None
    if weights == "imagenet":
        if channels != 3:
            raise ValueError(
                f"weights='imagenet' needs 3 input channels, got {channels}; use weights=None "
                "to train a backbone with another channel count from scratch."
            )
        return "imagenet"
    if isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"weights: no such file {path!r} (expected None, 'imagenet' or a weights file path)."
            )
        return path
    raise ValueError(f"weights must be None, 'imagenet' or a file path, got {weights!r}.")


def _input(input_tensor, input_shape):
    if input_tensor is not None:
        if not keras.backend.is_keras_tensor(input_tensor) or len(input_tensor.shape) != 4:
            raise ValueError(
                f"input_tensor must be a Keras tensor of shape (B, H, W, C), got {input_tensor!r}."
            )
        return input_tensor
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C), got {input_shape!r}.")
    return keras.Input(shape, name="images")


def _bn_momentum(value, weights):
    if value == "auto":
        return BN_MOMENTUM if weights is None else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"bn_momentum must be 'auto', None or a number in [0, 1); got {value!r}.")
    return float(value)


def build_backbone(
    name,
    *,
    input_tensor=None,
    input_shape=(None, None, 3),
    weights=None,
    output_stride=32,
    preprocessing=True,
    bn_momentum="auto",
):
    """Build a keras.applications CNN as a multi-scale feature extractor.

    Args:
        name: one of ``available()``.
        input_tensor: optional Keras tensor ``(B, H, W, C)`` to build on; the
            backbone's layers are then called on it directly, so a model built
            from ``input_tensor`` to the features is flat.
        input_shape: ``(H, W, C)`` used when ``input_tensor`` is None; H and W
            may be None. C != 3 needs ``weights=None``.
        weights: None (random init), ``"imagenet"`` (downloads) or the path of
            a weights file saved from this backbone (any output stride), from
            ``keras.applications.<Net>(include_top=False)``, or the
            keras.applications "notop" ``.h5`` download.
        output_stride: 32, 16 or 8. Below 32 the last strides become dilation.
        preprocessing: if True the first layer is ``PixelNormalization`` with
            the backbone's mode, so the backbone takes raw pixels 0..255.
        bn_momentum: momentum of every BatchNormalization moving average.
            ``"auto"``: 0.9 when training from scratch (``weights=None``;
            PyTorch's default, 0.1 in its convention), the network's own
            otherwise. From scratch the activation statistics move fast and
            slow averages lag them: a MobileNetV2 DeepLabV3 on CamVid at
            96x128 trained to 0.14-0.22 train mIoU yet scored 0.00-0.02 val
            mIoU in inference mode with keras.applications' 0.999 and with
            0.99, and 0.18 after two epochs with 0.9. None keeps the
            network's values; a float sets them.

    Returns:
        A functional ``keras.Model`` named ``"<name>_backbone"`` whose output
        is a dict ``{"stride4": (B, ceil(H/4), ceil(W/4), C4), ...}`` (float,
        compute dtype). Attributes: ``features`` (dict int stride -> Keras
        tensor), ``output_stride``, ``preprocess_mode``, ``backbone_name``.
        Each tap is the deepest layer at that stride; taps whose stride was
        removed by dilation merge into the ``output_stride`` tap.

    Raises:
        ValueError: unknown name, bad output_stride, input size or weights.
        FileNotFoundError: ``weights`` names a file that does not exist.
    """
    spec = _spec(name)
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}.")
    inputs = _input(input_tensor, input_shape)
    height, width, channels = inputs.shape[1:]
    if channels is None:
        raise ValueError("The channel count of the input (input_shape[-1]) must be known.")
    check_input_size(name, height, width, output_stride)
    weights = _check_weights(weights, channels)

    base = spec.constructor(
        include_top=False,
        weights="imagenet" if weights == "imagenet" else None,
        input_shape=(None, None, channels),
    )
    if weights not in (None, "imagenet"):
        try:
            base.load_weights(weights)
        except Exception as error:  # keras raises several types for a wrong file
            raise ValueError(
                f"weights file {weights!r} does not fit backbone {name!r} with {channels} input "
                f"channels: {error}"
            ) from error

    # Keep only the layers up to the deepest tap.
    last = spec.taps[max(spec.taps)]
    if base.layers[-1].name != last:
        base = keras.Model(base.input, base.get_layer(last).output)

    counters = {}
    rename = {}
    for layer in base.layers:
        match = _AUTO_NAME.match(layer.name)
        if match:
            kind = match.group(1)
            rename[layer.name] = f"{name}_{kind}_{counters.get(kind, 0)}"
            counters[kind] = counters.get(kind, 0) + 1

    overrides, strides = dilation.plan(base, output_stride)
    momentum = _bn_momentum(bn_momentum, weights)
    if momentum is not None:
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                overrides[layer.name] = {**overrides.get(layer.name, {}), "momentum": momentum}
    x = inputs
    if preprocessing:
        x = PixelNormalization(spec.preprocess, name="preprocess")(x)
    cloned = dilation.clone_with_overrides(base, x, overrides, rename)

    features = {}
    for stride in sorted(spec.taps):
        layer_name = spec.taps[stride]
        features[strides[layer_name]] = cloned[layer_name].output
    model = keras.Model(
        inputs, {f"stride{s}": t for s, t in features.items()}, name=f"{name}_backbone"
    )
    model.features = features
    model.output_stride = output_stride
    model.preprocess_mode = spec.preprocess
    model.backbone_name = name
    return model
