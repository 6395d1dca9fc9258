"""The TensorFlow graph pieces shared by the SavedModel and TFLite exports.

Everything here runs inside ``tf.function`` tracing: the serving graph
casts uint8 pixels to float32 (the model normalises inside its own graph),
resizes to whatever size the model needs, runs it in inference mode and
resizes the logits back to the input resolution.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from kseg._checks import is_int_sequence, positive_int
from kseg.export._contract import SCORES, check_output_path
from kseg.serving import signatures as sig
from kseg.data import images

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Candidate input-size multiples probed for fully convolutional models.
_DIVISORS = (1, 2, 4, 8, 16, 32, 64)
_PROBE_MIN_SIZE = 64
# For models that cannot take tiny inputs (a backbone's stride-2 "valid"
# convolutions have no valid output below 32 px: TensorFlow then returns
# garbage shapes, ONNX Runtime refuses), smaller images are resized up to
# this side before the model runs, and the answer resized back. Models that
# answer the smallest input at its size (kseg's own encoders pad inside)
# take tiny images as they are, exactly like Keras.
MIN_INPUT_SIDE = 32


class ModelSpec:
    """What the export needs to know about a segmentation model.

    Attributes:
        channels: input channels C.
        num_classes: logits channels.
        fixed_size: ``(H, W)`` when the model's input size is fixed, else None.
        size_divisor: input H and W must be multiples of this (1 = any size).
        min_side: sides under this are enlarged to it before the model runs
            (1 = none: the model takes tiny inputs as they are).
    """

    def __init__(self, channels, num_classes, fixed_size, size_divisor, min_side=1):
        self.channels = channels
        self.num_classes = num_classes
        self.fixed_size = fixed_size
        self.size_divisor = size_divisor
        self.min_side = min_side


def _probe(model, size, channels):
    try:
        out = model(np.zeros((1, size, size, channels), np.float32), training=False)
    except Exception:  # any failure means this size is not acceptable to the model
        return False
    return tuple(out.shape[1:3]) == (size, size)


def _valid_throughout(model, size, channels):
    """True when a ``size`` x ``size`` input gives every feature map of the graph a valid shape.

    Checked on shapes (Keras's shape inference), not by running: TensorFlow
    runs a valid 3x3 convolution on a 2x2 map and returns a 2x2 map of
    garbage, which a final resize still brings to the input size.
    """
    try:
        tensors = [t for layer in model.layers[1:] for t in keras.tree.flatten(layer.output) if len(t.shape) == 4]
        outputs = keras.Model(model.inputs, tensors).compute_output_spec(keras.KerasTensor((1, size, size, channels)))
    except Exception:  # shared layers, or "output size would be zero or negative": enlarge tiny inputs
        return False
    return all(min(out.shape[1:3]) > 0 for out in outputs) and tuple(outputs[-1].shape[1:3]) == (size, size)


def inspect_model(model, size_divisor=None):
    """Validate ``model`` as a kseg segmentation model and describe it.

    Args:
        model: a ``keras.Model`` with one image input ``(B, H, W, C)`` and
            logits output ``(B, H, W, num_classes)``.
        size_divisor: known input-size multiple; ``None`` probes the model
            (it must give logits at input resolution).

    Returns:
        ``ModelSpec``.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}.")
    if len(model.inputs) != 1:
        raise ValueError(f"model must have exactly one input (images), it has {len(model.inputs)}.")
    input_shape = tuple(model.inputs[0].shape)
    if len(input_shape) != 4:
        raise ValueError(f"model input must be (B, H, W, C), got shape {input_shape}.")
    output_shape = model.outputs[0].shape if len(model.outputs) == 1 else None
    if output_shape is None or len(output_shape) != 4 or output_shape[-1] is None:
        raise ValueError(
            f"model must have one output of shape (B, H, W, num_classes); got {[o.shape for o in model.outputs]}."
        )
    channels = input_shape[-1]
    if channels is None:
        raise ValueError("model input must declare its number of channels.")
    height, width = input_shape[1:3]
    fixed_size = None
    if height is not None or width is not None:
        if height is None or width is None:
            raise ValueError(f"model input size must be fully fixed or fully dynamic, got {input_shape}.")
        fixed_size = (int(height), int(width))
        size_divisor = 1
    elif size_divisor is None:
        size_divisor = next(
            (d for d in _DIVISORS if _probe(model, d * (2 * math.ceil((_PROBE_MIN_SIZE / d - 1) / 2) + 1), channels)),
            None,
        )
        if size_divisor is None:
            raise ValueError(
                "model does not return logits at input resolution for any input size that is a multiple "
                f"of {_DIVISORS}; pass size_divisor explicitly."
            )
    else:
        positive_int(size_divisor, "size_divisor")
    min_side = 1 if fixed_size is not None or _valid_throughout(model, size_divisor, channels) else MIN_INPUT_SIDE
    return ModelSpec(int(channels), int(output_shape[-1]), fixed_size, size_divisor, min_side)


def _static_or_dynamic(tensor):
    static = tensor.shape.as_list()
    dynamic = tf.shape(tensor)
    return [s if s is not None else dynamic[i] for i, s in enumerate(static)]


def _round_up(size, divisor):
    if divisor == 1:
        return size
    if isinstance(size, int):
        return -(-size // divisor) * divisor
    return (size + divisor - 1) // divisor * divisor


def _at_least(size, minimum):
    return max(size, minimum) if isinstance(size, int) else tf.maximum(size, minimum)


def predict_logits(model, spec, images):
    """float32 logits ``[N, H, W, C]`` for uint8 ``images`` ``[N, H, W, Cin]``.

    Inputs the model cannot take as they are are resized (bilinear) to its
    fixed size, or (a side under ``spec.min_side`` enlarged first) up to
    the next multiple of its size divisor, and the logits resized back, so
    the answer is always at the input resolution.
    """
    x = tf.cast(images, tf.float32)
    _, height, width, _ = _static_or_dynamic(x)
    if spec.fixed_size is not None:
        target = spec.fixed_size
    else:
        target = tuple(_round_up(_at_least(side, spec.min_side), spec.size_divisor) for side in (height, width))
        if all(isinstance(side, int) for side in target) and spec.size_divisor == 1 and min(height, width) >= spec.min_side:
            target = None
    static_same = target is not None and all(isinstance(v, int) for v in (height, width)) and tuple(target) == (height, width)
    if target is None or static_same:
        return tf.cast(model(x, training=False), tf.float32)
    # Same-size bilinear resizing with half-pixel centres is an exact copy,
    # so inputs already at a valid size pass through unchanged.
    logits = tf.cast(model(tf.image.resize(x, target), training=False), tf.float32)
    return tf.image.resize(logits, tf.stack([height, width]) if not isinstance(height, int) else (height, width))


def assert_image_size(height, width, max_image_size, what):
    """Assert ops (InvalidArgument on failure) for 1 <= height, width <= max."""
    height = tf.cast(height, tf.int64)
    width = tf.cast(width, tf.int64)
    return [
        tf.debugging.assert_positive(height, message=f"{what}: image height must be at least 1 pixel"),
        tf.debugging.assert_positive(width, message=f"{what}: image width must be at least 1 pixel"),
        tf.debugging.assert_less_equal(
            height, tf.constant(max_image_size, tf.int64),
            message=f"{what}: image height exceeds the maximum of {max_image_size} pixels",
        ),
        tf.debugging.assert_less_equal(
            width, tf.constant(max_image_size, tf.int64),
            message=f"{what}: image width exceeds the maximum of {max_image_size} pixels",
        ),
    ]


def _declared_size(data, what):
    """(height, width) int64 that a PNG/JPEG header declares, before decoding.

    Reading the header first keeps a decompression bomb (a tiny file that
    declares a gigapixel image) from exhausting the server's memory.
    """
    head = tf.io.decode_raw(tf.strings.substr(tf.strings.join([data, b"\0" * 24]), 0, 24), tf.uint8)
    head = tf.cast(head, tf.int64)
    is_png = tf.logical_and(
        tf.equal(tf.strings.substr(data, 0, 8), PNG_SIGNATURE), tf.greater_equal(tf.strings.length(data), 24)
    )
    is_jpeg = tf.io.is_jpeg(data)
    check = tf.debugging.Assert(
        tf.logical_or(is_png, is_jpeg), [f"{what}: every element must be a PNG or JPEG image"]
    )
    with tf.control_dependencies([check]):

        def big_endian(start):
            return head[start] * 2**24 + head[start + 1] * 2**16 + head[start + 2] * 2**8 + head[start + 3]

        return tf.cond(
            is_jpeg,
            lambda: tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64),
            lambda: tf.stack([big_endian(20), big_endian(16)]),
        )


def checked_size(data, max_image_size, what):
    """int32 ``[2]`` (height, width) of one PNG/JPEG string, read from its
    header and checked against 1..max_image_size (InvalidArgument otherwise)."""
    size = _declared_size(data, what)
    with tf.control_dependencies(assert_image_size(size[0], size[1], max_image_size, what)):
        return tf.cast(tf.identity(size), tf.int32)


def decode_image(data, channels, max_image_size, what):
    """uint8 ``[h, w, channels]`` from one PNG/JPEG string, size-checked first."""
    size = checked_size(data, max_image_size, what)
    with tf.control_dependencies([size]):
        return images.decode_image(data, channels)


def logits_to_outputs(logits, *, include_scores=False, include_probabilities=False):
    """The outputs of every kseg export from float32 logits ``[N, H, W, K]``.

    Returns:
        dict: ``classes`` int32 ``[N, H, W]`` (argmax), with ``scores`` the
        logits themselves, with ``probabilities`` their softmax.
    """
    outputs = {sig.CLASSES: tf.argmax(logits, axis=-1, output_type=tf.int32)}
    if include_scores:
        outputs[SCORES] = logits
    if include_probabilities:
        outputs[sig.PROBABILITIES] = tf.nn.softmax(logits, axis=-1)
    return outputs


def check_export_target(model, path, suffix):
    """The exporters' opening checks: ``path`` ends with ``suffix`` in a writable
    folder and ``model`` is a ``keras.Model``. Returns ``path`` as a str."""
    path = check_output_path(path, suffix)
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}.")
    return path


def check_input_size(input_size, spec):
    """``(H, W)`` of a fixed-size export: ``input_size`` checked, or the model's own fixed size."""
    if input_size is None:
        if spec.fixed_size is None:
            raise ValueError("input_size=(H, W) is required: the model takes any size but a .tflite has a fixed one.")
        return spec.fixed_size
    if not is_int_sequence(input_size, length=2):
        raise ValueError(f"input_size must be (height, width) positive ints, got {input_size!r}.")
    return (int(input_size[0]), int(input_size[1]))


def spec_for_size(model, input_size, size_divisor):
    """ModelSpec; a dynamic model that already answers at input_size needs no resize."""
    spec = inspect_model(model, size_divisor=size_divisor or 1)
    if spec.fixed_size is None and size_divisor is None:
        try:
            out = model(np.zeros((1, *input_size, spec.channels), np.float32), training=False)
            fits = tuple(out.shape[1:3]) == tuple(input_size)
        except Exception:  # the model rejects this size: probe its divisor instead
            fits = False
        if not fits:
            spec = inspect_model(model)
    return spec
