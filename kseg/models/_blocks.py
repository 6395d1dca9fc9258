"""Pieces shared by the model builders: argument checks, input normalisation,
conv-BN-ReLU units, the VGG16 conv stack, size alignment and the logits head.

Two small serializable layers live here because the architectures need them
for "any input size" and ``kseg.layers`` does not provide them:
``PadToMultiple`` (pad bottom/right so every pooling stage divides evenly)
and ``CropToReference`` (cut the padded prediction back to the input size).
"""

import os

import keras
from keras import ops

from kseg._batch_norm import batch_normalization
from kseg._checks import is_int, positive_int
from kseg.backbones import PixelNormalization

# (filters, convs) per VGG16 block; layer names follow keras.applications
# (``block{i}_conv{j}``) so ImageNet weights load by name.
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def check_builder_args(model, num_classes, input_shape):
    """Validate the arguments every builder shares; return ``input_shape`` as a tuple.

    ``input_shape`` is ``(H, W, C)`` with ``H``/``W`` positive ints or None
    and ``C`` a positive int.
    """
    positive_int(num_classes, "`num_classes`", context=model)
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if (
        len(shape) != 3
        or not all(d is None or (is_int(d) and d > 0) for d in shape[:2])
        or not is_int(shape[2])
        or shape[2] < 1
    ):
        raise ValueError(
            f"{model}: `input_shape` must be (height, width, channels) with positive ints or None for "
            f"height/width and a positive int for channels; got {input_shape!r}."
        )
    return tuple(None if d is None else int(d) for d in shape)


def check_rate(model, name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(f"{model}: `{name}` must be a float in [0, 1), got {value!r}.")
    return float(value)


def image_input(input_shape):
    """The model input: float32 images with raw pixel values in [0, 255]."""
    return keras.Input(shape=input_shape, dtype="float32", name="images")


def normalize(x, mode):
    """In-graph pixel normalisation (``kseg.backbones.PixelNormalization``).

    ``"caffe"`` for VGG16-initialised encoders (what the ImageNet weights
    expect), ``"tf"`` (raw [0, 255] -> [-1, 1]) for networks trained from
    scratch. Named ``preprocess`` so every model starts the same way.
    """
    return PixelNormalization(mode, name="preprocess")(x)


def conv_bn_relu(x, filters, kernel_size=3, *, name, batch_norm=True, activation="relu", use_bias=None):
    """``Conv2D(padding="same")`` -> optional BatchNorm -> optional activation.

    The convolution is named ``name`` (so weights load by name), the
    normalisation ``{name}_bn`` and the activation ``{name}_{activation}``.
    ``use_bias`` defaults to ``not batch_norm`` (BN's beta makes a bias
    redundant).
    """
    if use_bias is None:
        use_bias = not batch_norm
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=use_bias, name=name)(x)
    if batch_norm:
        x = batch_normalization(f"{name}_bn")(x)
    if activation is not None:
        x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def vgg16_block(x, block, *, batch_norm, filters=None):
    """The convolutions of VGG16 block ``block`` (1..5), without the pooling.

    ``filters`` overrides the block's VGG16 width (for light variants).

    Convolutions keep their bias even with batch norm so the ImageNet
    kernels and biases load unchanged.
    """
    width, convs = VGG16_BLOCKS[block - 1]
    filters = width if filters is None else filters
    for j in range(1, convs + 1):
        x = conv_bn_relu(x, filters, 3, name=f"block{block}_conv{j}", batch_norm=batch_norm, use_bias=True)
    return x


def load_vgg16_weights(model, weights, *, builder):
    """Copy VGG16 ImageNet conv weights into ``model``'s ``block{i}_conv{j}`` layers.

    ``weights``: None (nothing to do), ``"imagenet"`` (downloaded by
    keras.applications) or a path to a keras.applications VGG16 weights
    file (``.h5`` / ``.weights.h5``, with or without the top),
    (read through keras.applications, so both Keras weight formats work).
    The model must normalise its input with ``normalize(x, "caffe")``.
    """
    if weights is None:
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"{builder}: `weights` must be None, 'imagenet' or a file path; got {weights!r}.")
    weights = os.fspath(weights)
    if weights != "imagenet" and not os.path.isfile(weights):
        raise FileNotFoundError(f"{builder}: `weights` file {weights!r} does not exist.")
    if model.input_shape[-1] != 3:
        raise ValueError(
            f"{builder}: pretrained VGG16 weights need 3-channel RGB input; `input_shape` has "
            f"{model.input_shape[-1]} channels. Use weights=None for other channel counts."
        )
    source = _vgg16_source(weights, builder)
    for block, (_, convs) in enumerate(VGG16_BLOCKS, start=1):
        for j in range(1, convs + 1):
            name = f"block{block}_conv{j}"
            model.get_layer(name).set_weights(source.get_layer(name).get_weights())


def _vgg16_source(weights, builder):
    kwargs = dict(weights=weights, input_shape=(None, None, 3))
    try:
        return keras.applications.VGG16(include_top=False, **kwargs)
    except ValueError as notop_error:
        if weights == "imagenet":
            raise
        # A full-model weights file (with the classifier) only loads into the
        # model with the top, which fixes the input size to 224 x 224.
        try:
            return keras.applications.VGG16(include_top=True, weights=weights)
        except ValueError:
            raise ValueError(
                f"{builder}: {weights!r} is not a keras.applications VGG16 weights file ({notop_error})."
            ) from None


def float32_logits(x):
    """Identity that casts to float32, so mixed-precision models emit float32 logits."""
    return keras.layers.Activation("linear", dtype="float32", name="logits")(x)


@keras.saving.register_keras_serializable(package="kseg")
class PadToMultiple(keras.layers.Layer):
    """Zero-pad the bottom and right edges up to a multiple of ``multiple``.

    Input ``(B, H, W, C)``; output ``(B, ceil(H/m)*m, ceil(W/m)*m, C)``, same
    dtype. Padding bottom/right keeps the top-left pixel grid of the input
    unchanged, so ``CropToReference`` undoes it with a plain slice. Apply it
    after normalisation so the padding equals the zero padding every
    "same" convolution already uses.
    """

    def __init__(self, multiple, **kwargs):
        super().__init__(**kwargs)
        self.multiple = positive_int(multiple, "`multiple`", context="PadToMultiple")

    def call(self, x):
        shape = ops.shape(x)
        # Non-negative operands only: tf2onnx converts the modulo of a negative
        # int as a truncated one, and (-100) % 8 became -4 (a crop) in ONNX.
        m = self.multiple
        pad_h, pad_w = (m - shape[1] % m) % m, (m - shape[2] % m) % m
        return ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])

    def compute_output_shape(self, input_shape):
        up = lambda d: None if d is None else -(-d // self.multiple) * self.multiple  # noqa: E731
        return (input_shape[0], up(input_shape[1]), up(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(multiple=self.multiple)
        return config


@keras.saving.register_keras_serializable(package="kseg")
class CropToReference(keras.layers.Layer):
    """Keep the top-left ``H x W`` of ``x``, where ``H, W`` come from ``reference``.

    Call on ``[x, reference]``: ``x`` is ``(B, H', W', C)`` with ``H' >= H``
    and ``W' >= W``; ``reference`` is any ``(B, H, W, ...)`` tensor. Returns
    ``(B, H, W, C)`` in ``x``'s dtype.
    """

    def call(self, inputs):
        x, reference = inputs
        shape = ops.shape(reference)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shapes):
        x, reference = input_shapes
        return (x[0], reference[1], reference[2], x[3])
