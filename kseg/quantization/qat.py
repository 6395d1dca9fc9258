"""Quantization-aware training (QAT) on Keras 3: fake quantization where the TFLite converter quantizes.

``quantize_aware(model)`` clones a functional model so that training sees
the int8 rounding the full-integer TFLite file will apply:

* weights of ``Conv2D`` / ``DepthwiseConv2D`` / ``Conv2DTranspose``:
  per-output-channel symmetric int8 (``QuantConv2D`` /
  ``QuantDepthwiseConv2D`` / ``QuantConv2DTranspose``), with a following
  ``BatchNormalization`` folded first the way the converter folds it
  (``w * gamma / sqrt(var + eps)`` per output channel; the batch norm's
  moving statistics are frozen, gamma and beta keep training: the "freeze
  BN statistics" variant). The batch norm becomes an ``Identity`` of the
  same name.
* activations: per-tensor asymmetric int8 on the output of every layer that
  computes (convolutions, adds, concatenations, activations, standalone
  batch norms, the input normalisation), after a ReLU the converter fuses
  into it (``ActivationQuantizer``; ranges tracked as a moving average of
  batch min / max in training, or set from ``representative_data``).
  Pooling, resizing, padding and cropping pass their input's range on.

Both use ``tf.quantization.fake_quant_with_min_max_vars(_per_channel)``
(straight-through gradients). The layers are registered, so a QAT model
saves and loads with ``safe_mode=True``; its weights are ordinary weights.
``strip_quantization`` gives the float model whose weights are the
fake-quantized, folded ones (what ``kseg.export.export_tflite`` converts).
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kseg.graph.fold_batchnorm import _graph_model, foldable_pairs

ACTIVATION_MOMENTUM = 0.99
# Layers that pass their input's int8 range on (TFLite gives their output the input's scale).
_PASS_THROUGH = (
    keras.layers.InputLayer, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.UpSampling2D,
    keras.layers.Resizing, keras.layers.Identity, keras.layers.Dropout, keras.layers.SpatialDropout2D,
    keras.layers.ZeroPadding2D, keras.layers.Cropping2D,
)
_PASS_THROUGH_KSEG = ("PadToMultiple", "CropToReference", "ResizeLike", "Upsample2D")  # kseg layers that only move/resize pixels
# Layers whose output the converter quantizes (after any fused ReLU).
_COMPUTE = (
    keras.layers.Add, keras.layers.Concatenate, keras.layers.Activation, keras.layers.ReLU, keras.layers.PReLU,
    keras.layers.BatchNormalization, keras.layers.Rescaling, keras.layers.Normalization,
)
_COMPUTE_KSEG = ("PixelNormalization",)
_FUSABLE_INTO = (keras.layers.Add,)  # besides convolutions, and the batch norms folded into them


def _is_relu(layer):
    if isinstance(layer, keras.layers.ReLU):
        return layer.max_value in (None, 6.0) and not layer.negative_slope and not layer.threshold
    if isinstance(layer, keras.layers.Activation):
        return keras.activations.serialize(layer.activation) in ("relu", "relu6")
    return False


@keras.saving.register_keras_serializable(package="kseg")
class ActivationQuantizer(keras.layers.Layer):
    """Per-tensor asymmetric int8 fake quantization with a tracked range.

    In training the range follows a moving average (``momentum``) of the
    batch min / max (the first batch sets it); in inference it is fixed.
    Before any range is known the layer passes its input through.
    ``(...) -> (...)``, same shape.

    Args:
        momentum: in [0, 1).
    """

    def __init__(self, momentum=ACTIVATION_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(f"ActivationQuantizer: `momentum` must be in [0, 1), got {momentum!r}.")
        self.momentum = float(momentum)

    def build(self, input_shape):
        self.range_min = self.add_weight(name="range_min", shape=(), initializer="zeros", trainable=False)
        self.range_max = self.add_weight(name="range_max", shape=(), initializer="zeros", trainable=False)
        self.tracked = self.add_weight(name="tracked", shape=(), initializer="zeros", trainable=False)

    def call(self, x, training=False):
        x = ops.cast(x, "float32")
        if training:
            low, high = ops.minimum(ops.min(x), 0.0), ops.maximum(ops.max(x), 0.0)
            keep = self.momentum * self.tracked
            self.range_min.assign(keep * self.range_min + (1.0 - keep) * ops.stop_gradient(low))
            self.range_max.assign(keep * self.range_max + (1.0 - keep) * ops.stop_gradient(high))
            self.tracked.assign(1.0)
        quantized = tf.quantization.fake_quant_with_min_max_vars(
            x, self.range_min, ops.maximum(self.range_max, self.range_min + 1e-6), num_bits=8, narrow_range=False)
        return ops.where(self.tracked > 0, quantized, x)

    def set_range(self, low, high):
        self.range_min.assign(min(float(low), 0.0))
        self.range_max.assign(max(float(high), 0.0))
        self.tracked.assign(1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


class _QuantConvMixin:
    """Per-channel symmetric int8 fake-quantized kernel, with an optional batch norm folded in."""

    def __init__(self, *args, folded_bn_epsilon=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.data_format != "channels_last":
            raise ValueError(f"{type(self).__name__} {self.name!r}: only channels_last is supported.")
        if folded_bn_epsilon is not None and (isinstance(folded_bn_epsilon, bool) or not folded_bn_epsilon > 0):
            raise ValueError(f"{type(self).__name__}: `folded_bn_epsilon` must be > 0 or None, "
                             f"got {folded_bn_epsilon!r}.")
        self.folded_bn_epsilon = None if folded_bn_epsilon is None else float(folded_bn_epsilon)

    def build(self, input_shape):
        super().build(input_shape)
        if self.folded_bn_epsilon is None:
            return
        channels = self._out_channels()
        self.bn_gamma = self.add_weight(name="bn_gamma", shape=(channels,), initializer="ones")
        self.bn_beta = self.add_weight(name="bn_beta", shape=(channels,), initializer="zeros")
        self.bn_moving_mean = self.add_weight(name="bn_moving_mean", shape=(channels,), initializer="zeros",
                                              trainable=False)
        self.bn_moving_variance = self.add_weight(name="bn_moving_variance", shape=(channels,),
                                                  initializer="ones", trainable=False)

    def folded_kernel_bias(self):
        """``(kernel, bias)`` float tensors: batch norm folded in, kernel fake-quantized per output channel."""
        kernel = ops.convert_to_tensor(self.kernel)
        channels = self._out_channels()
        bias = ops.convert_to_tensor(self.bias) if self.use_bias else ops.zeros((channels,), kernel.dtype)
        if self.folded_bn_epsilon is not None:
            scale = self.bn_gamma / ops.sqrt(self.bn_moving_variance + self.folded_bn_epsilon)
            bias = (bias - self.bn_moving_mean) * scale + self.bn_beta
            kernel = kernel * self._per_output_channel(scale, kernel)
        moved = self._output_channel_last(kernel)
        flat = ops.reshape(moved, (-1, channels))
        bound = ops.maximum(ops.max(ops.abs(flat), axis=0), 1e-8)
        quantized = tf.quantization.fake_quant_with_min_max_vars_per_channel(
            flat, -bound, bound, num_bits=8, narrow_range=True)
        return self._output_channel_last(ops.reshape(quantized, ops.shape(moved))), bias

    @staticmethod
    def _output_channel_last(kernel):
        return kernel  # (kh, kw, in, filters) and (kh, kw, in, multiplier): already

    def call(self, inputs):
        kernel, bias = self.folded_kernel_bias()
        outputs = self._convolve(inputs, kernel) + bias
        return self.activation(outputs) if self.activation is not None else outputs

    # Keras convolutions save kernel and bias only: save every variable, the folded batch norm's too.
    def save_own_variables(self, store):
        keras.layers.Layer.save_own_variables(self, store)

    def load_own_variables(self, store):
        keras.layers.Layer.load_own_variables(self, store)

    def get_config(self):
        return {**super().get_config(), "folded_bn_epsilon": self.folded_bn_epsilon}


@keras.saving.register_keras_serializable(package="kseg")
class QuantConv2D(_QuantConvMixin, keras.layers.Conv2D):
    """``Conv2D`` with per-channel int8 fake-quantized weights and an optional folded batch norm.

    Args:
        folded_bn_epsilon: epsilon of the folded batch norm, or None (no batch
            norm; its weights ``bn_*`` exist only when set).
        **kwargs: ``Conv2D``'s arguments (``groups`` must be 1).
    """

    def __init__(self, *args, folded_bn_epsilon=None, **kwargs):
        super().__init__(*args, folded_bn_epsilon=folded_bn_epsilon, **kwargs)
        if self.groups != 1:
            raise ValueError(f"QuantConv2D {self.name!r}: only groups=1 is supported, got {self.groups}.")

    def _out_channels(self):
        return self.filters

    @staticmethod
    def _per_output_channel(scale, kernel):
        return scale  # (kh, kw, in, filters)

    def _convolve(self, inputs, kernel):
        return ops.conv(inputs, kernel, strides=self.strides, padding=self.padding,
                        dilation_rate=self.dilation_rate, data_format=self.data_format)


@keras.saving.register_keras_serializable(package="kseg")
class QuantDepthwiseConv2D(_QuantConvMixin, keras.layers.DepthwiseConv2D):
    """``DepthwiseConv2D`` with per-channel int8 fake-quantized weights and an optional folded batch norm.

    Args:
        folded_bn_epsilon: as in ``QuantConv2D``.
        **kwargs: ``DepthwiseConv2D``'s arguments.
    """

    def _out_channels(self):
        return int(self.kernel.shape[2]) * self.depth_multiplier

    @staticmethod
    def _per_output_channel(scale, kernel):
        return ops.reshape(scale, (kernel.shape[2], kernel.shape[3]))  # (kh, kw, in, multiplier)

    def _convolve(self, inputs, kernel):
        return ops.depthwise_conv(inputs, kernel, strides=self.strides, padding=self.padding,
                                  dilation_rate=self.dilation_rate, data_format=self.data_format)


@keras.saving.register_keras_serializable(package="kseg")
class QuantConv2DTranspose(_QuantConvMixin, keras.layers.Conv2DTranspose):
    """``Conv2DTranspose`` with per-channel int8 fake-quantized weights and an optional folded batch norm.

    Args:
        folded_bn_epsilon: as in ``QuantConv2D``.
        **kwargs: ``Conv2DTranspose``'s arguments.
    """

    def _out_channels(self):
        return self.filters

    @staticmethod
    def _per_output_channel(scale, kernel):
        return ops.reshape(scale, (-1, 1))  # (kh, kw, filters, in)

    @staticmethod
    def _output_channel_last(kernel):
        return ops.transpose(kernel, (0, 1, 3, 2))  # (kh, kw, filters, in) <-> (kh, kw, in, filters)

    def _convolve(self, inputs, kernel):
        return ops.conv_transpose(inputs, kernel, strides=list(self.strides), padding=self.padding,
                                  output_padding=self.output_padding, dilation_rate=self.dilation_rate,
                                  data_format=self.data_format)


_QUANT_CONVS = {keras.layers.Conv2D: QuantConv2D, keras.layers.DepthwiseConv2D: QuantDepthwiseConv2D,
                keras.layers.Conv2DTranspose: QuantConv2DTranspose}
_FLOAT_CONVS = {quant: base for base, quant in _QUANT_CONVS.items()}


def _kind(layer):
    """``"conv"``, ``"compute"`` or ``"pass"``; unsupported layers are a clear error."""
    if type(layer) in _QUANT_CONVS:
        return "conv"
    name = type(layer).__name__
    if isinstance(layer, _COMPUTE) or name in _COMPUTE_KSEG:
        return "compute"
    if isinstance(layer, _PASS_THROUGH) or name in _PASS_THROUGH_KSEG:
        return "pass"
    raise ValueError(
        f"quantize_aware does not support layer {layer.name!r} ({name}); supported: Conv2D, DepthwiseConv2D, "
        "Conv2DTranspose (each with an optional BatchNormalization after it), Add, Concatenate, ReLU/Activation, PReLU, "
        "BatchNormalization, input normalisation, pooling, resizing, padding, cropping, dropout.")


def _consumers(graph):
    """``{layer name: [consumer layers]}`` within ``graph``'s own nodes."""
    from kseg import _compat

    found = {}
    for node in _compat.graph_nodes(graph):
        for parent in node.parent_nodes:
            found.setdefault(parent.operation.name, []).append(node.operation)
    return found


def _quantized_outputs(graph, pairs):
    """Names of the layers whose output gets an ``ActivationQuantizer``."""
    folded_bns = set(pairs.values())
    consumers = _consumers(graph)
    names = set()
    for layer in graph.layers:
        kind = _kind(layer)
        if kind == "pass" or layer.name in pairs:  # a folded conv's output is its batch norm's
            continue
        users = consumers.get(layer.name, [])
        fusable = kind == "conv" or layer.name in folded_bns or isinstance(layer, _FUSABLE_INTO)
        if fusable and len(users) == 1 and _is_relu(users[0]):
            continue  # the converter fuses the ReLU: one int8 tensor after it
        names.add(layer.name)
    return names


def _quantizer_name(layer_name):
    return f"{layer_name}_quant"


def quantize_aware(model, *, representative_data=None, momentum=ACTIVATION_MOMENTUM):
    """A trainable clone of ``model`` with fake quantization where TFLite int8 quantizes (module docstring).

    Args:
        model: a functional (or built Sequential) ``keras.Model`` of supported
            layers; its weights are copied.
        representative_data: optional images (raw 0..255, an array
            ``[N, H, W, C]`` or an iterable of batches, see
            ``representative_images``) that set the activation ranges before
            training (min / max over all of them); without it the first
            training batch sets them.
        momentum: moving-average momentum of the tracked activation ranges.

    Returns:
        A ``keras.Model`` named like ``model``; train it with ``fit``, export
        it with ``kseg.export.export_tflite(..., quantize="int8")``.
    """
    graph = _graph_model(model)
    if is_quantize_aware(graph):
        raise ValueError(f"model {graph.name!r} is already quantization-aware.")
    for layer in graph.layers:
        _kind(layer)
    pairs = {conv: bn for conv, bn in foldable_pairs(graph) if type(graph.get_layer(conv)) in _QUANT_CONVS}
    folded_bns = {bn: conv for conv, bn in pairs.items()}
    quantized = _quantized_outputs(graph, pairs)

    def clone(layer):
        if layer.name in folded_bns:
            return keras.layers.Identity(name=layer.name)
        if type(layer) in _QUANT_CONVS:
            epsilon = graph.get_layer(pairs[layer.name]).epsilon if layer.name in pairs else None
            return _QUANT_CONVS[type(layer)].from_config({**layer.get_config(), "folded_bn_epsilon": epsilon})
        return layer.__class__.from_config(layer.get_config())

    def call(layer, *args, **kwargs):
        outputs = layer(*args) if layer.name in folded_bns else layer(*args, **kwargs)
        if layer.name in quantized:
            outputs = ActivationQuantizer(momentum, name=_quantizer_name(layer.name))(outputs)
        return outputs

    qat = keras.models.clone_model(graph, clone_function=clone, call_function=call)
    for layer in graph.layers:
        if layer.name in folded_bns or isinstance(layer, keras.layers.InputLayer):
            continue
        target = qat.get_layer(layer.name)
        if layer.name not in pairs:
            target.set_weights(layer.get_weights())
            continue
        bn = graph.get_layer(pairs[layer.name])
        channels = target.bn_gamma.shape[0]
        values = {"kernel": layer.kernel, "bias": layer.bias if layer.use_bias else None,
                  "bn_gamma": bn.gamma if bn.scale else np.ones(channels),
                  "bn_beta": bn.beta if bn.center else np.zeros(channels),
                  "bn_moving_mean": bn.moving_mean, "bn_moving_variance": bn.moving_variance}
        for key, value in values.items():
            if value is not None:
                getattr(target, key).assign(np.asarray(keras.ops.convert_to_numpy(value), np.float32))
    if representative_data is not None:
        calibrate(qat, representative_data)
    return qat


def is_quantize_aware(model):
    """True when ``model`` holds ``quantize_aware`` layers."""
    return any(isinstance(layer, (ActivationQuantizer, _QuantConvMixin)) for layer in getattr(model, "layers", ()))


def calibrate(qat_model, representative_data):
    """Set every ``ActivationQuantizer``'s range to the min / max it sees on ``representative_data``."""
    from kseg.quantization.calibration import representative_images

    quantizers = [layer for layer in qat_model.layers if isinstance(layer, ActivationQuantizer)]
    channels = int(qat_model.inputs[0].shape[-1])
    images = representative_images(representative_data, _input_size_of(qat_model, representative_data), channels)
    for quantizer in quantizers:  # float ranges: measure with every quantizer passing through
        quantizer.tracked.assign(0.0)
    probe = keras.Model(qat_model.inputs[0] if len(qat_model.inputs) == 1 else qat_model.inputs,
                        [q.input for q in quantizers])
    lows, highs = np.full(len(quantizers), np.inf), np.full(len(quantizers), -np.inf)
    for image in images:
        for i, value in enumerate(probe(image.astype(np.float32), training=False)):
            value = keras.ops.convert_to_numpy(value)
            lows[i], highs[i] = min(lows[i], value.min()), max(highs[i], value.max())
    for quantizer, low, high in zip(quantizers, lows, highs):
        quantizer.set_range(low, high)
    return qat_model


def _input_size_of(model, data):
    shape = model.inputs[0].shape
    if shape[1] is not None and shape[2] is not None:
        return int(shape[1]), int(shape[2])
    first = data if isinstance(data, np.ndarray) else next(iter(data))
    first = np.asarray(first[0] if isinstance(first, (tuple, list)) else first)
    return tuple(int(v) for v in first.shape[-3:-1])


def strip_quantization(qat_model):
    """The float model a QAT model stands for: plain convolutions whose weights are the folded,
    fake-quantized ones (batch norms stay ``Identity``), no activation quantizers. Inference only."""
    graph = _graph_model(qat_model)

    def clone(layer):
        if isinstance(layer, ActivationQuantizer):
            return keras.layers.Identity(name=layer.name)
        if isinstance(layer, _QuantConvMixin):
            config = {**layer.get_config(), "use_bias": True}
            config.pop("folded_bn_epsilon")
            return _FLOAT_CONVS[type(layer)].from_config(config)
        return layer.__class__.from_config(layer.get_config())

    def call(layer, *args, **kwargs):
        return layer(*args) if isinstance(layer, keras.layers.Identity) else layer(*args, **kwargs)

    stripped = keras.models.clone_model(graph, clone_function=clone, call_function=call)
    for layer in graph.layers:
        if isinstance(layer, (ActivationQuantizer, keras.layers.InputLayer)):
            continue
        target = stripped.get_layer(layer.name)
        if isinstance(layer, _QuantConvMixin):
            target.set_weights([keras.ops.convert_to_numpy(w) for w in layer.folded_kernel_bias()])
        else:
            target.set_weights(layer.get_weights())
    stripped.trainable = False
    return stripped
