"""Rewrite a model's float-only patterns into ops that int8 runtimes run fast and exactly.

Two patterns make a full-integer TFLite file slow and wrong on the XNNPACK
delegate (measured on camvid_dabnet/5, reports/quantization.md):

* ``PReLU``: XNNPACK has no int8 PRELU, so it runs on TFLite's reference
  kernel and splits the delegated graph; and int8 PRELU stores all the
  per-channel slopes with one scale.
* ``BatchNormalization`` that does not follow a convolution (after an
  ``Add`` or ``Concatenate``): the converter cannot fold it and emits a MUL
  and an ADD whose per-channel constants share one int8 scale.

``lower_for_int8`` returns an inference clone where batch norms after a
convolution are folded into it (``kseg.graph.fold_batchnorm``), every other
batch norm is a 1x1 ``DepthwiseConv2D`` with a bias (per-channel int8
weights), and every PReLU is ``x + (1 - alpha) * relu(-x)`` written as two
1x1 depthwise convolutions and an add: ``relu(-x)`` is a depthwise
convolution with weights -1 and a fused ReLU, and the slopes become the
per-channel weights of the second one. An average pool whose input other
layers also read (DABNet's input injection of the normalised image) gets an
identity 1x1 depthwise convolution in front (``RequantizedAveragePooling2D``),
so the concatenation it feeds cannot impose its coarse int8 scale on that
shared input. Same weights, same float outputs (up to float32 rounding).
"""

import keras
import numpy as np
from keras import ops

from kseg.graph.fold_batchnorm import _bn_scale_shift, _graph_model, fold_batchnorm


@keras.saving.register_keras_serializable(package="kseg")
class LoweredPReLU(keras.layers.Layer):
    """``PReLU`` with per-channel slopes, as ``x + (1 - alpha) * relu(-x)``.

    Both products are 1x1 depthwise convolutions, so a TFLite int8 file runs
    them as DEPTHWISE_CONV_2D (per-channel weight scales, fused ReLU) and ADD.
    ``(B, H, W, C) -> (B, H, W, C)``, float32.

    Args:
        channels: C.
    """

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
            raise ValueError(f"LoweredPReLU: `channels` must be a positive int, got {channels!r}.")
        self.channels = channels

    def build(self, input_shape):
        if input_shape[-1] != self.channels:
            raise ValueError(f"LoweredPReLU {self.name!r}: expected {self.channels} channels, got {input_shape}.")
        self.slope_complement = self.add_weight(
            name="slope_complement", shape=(1, 1, self.channels, 1), initializer="ones", trainable=False)

    def set_alpha(self, alpha):
        """Set the slopes from PReLU's ``alpha`` (any shape with C values)."""
        alpha = np.asarray(alpha, np.float32).reshape(-1)
        if alpha.size != self.channels:
            raise ValueError(f"LoweredPReLU {self.name!r}: expected {self.channels} slopes, got {alpha.size}.")
        self.slope_complement.assign((1.0 - alpha).reshape(1, 1, self.channels, 1))

    def call(self, x):
        minus = -ops.ones((1, 1, self.channels, 1), dtype=x.dtype)
        negative_part = ops.relu(ops.depthwise_conv(x, minus, padding="valid"))
        return x + ops.depthwise_conv(negative_part, ops.cast(self.slope_complement, x.dtype), padding="valid")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="kseg")
class RequantizedAveragePooling2D(keras.layers.AveragePooling2D):
    """``AveragePooling2D`` behind an identity 1x1 depthwise convolution (exact in float).

    In int8, TFLite gives an average pool the scale of its input and a
    concatenation one scale for all its inputs, so a pooled image that is
    concatenated with wide-range features (DABNet's input injection) pulls
    that coarse scale back onto the pool's input: the normalised image that
    the first convolution also reads. The identity convolution requantizes,
    so the shared input keeps its own, fine scale.
    """

    def call(self, inputs):
        channels = inputs.shape[-1]
        identity = ops.ones((1, 1, channels, 1), dtype=inputs.dtype)
        return super().call(ops.depthwise_conv(inputs, identity, padding="valid"))


def _per_channel_prelu(layer, input_shape):
    """Whether a PReLU has one slope per channel (shared over H and W), the case lowered."""
    alpha = layer.get_weights()[0]
    return len(input_shape) == 4 and int(np.prod(alpha.shape)) == input_shape[-1] and alpha.shape[-1] == input_shape[-1]


def lowered_layers(model):
    """Names of the layers ``lower_for_int8`` rewrites: ``{"prelu": [...], "batchnorm": [...],
    "average_pool": [...]}`` (batch norms that no convolution absorbs; pools of a shared input)."""
    folded = fold_batchnorm(model)
    return _targets(folded)


def _shared_input_pools(folded):
    """Average pools whose input tensor other layers read too (the scale they would drag back)."""
    from kseg import _compat

    readers = {}
    for node in _compat.graph_nodes(folded):
        for tensor in node.input_tensors:
            readers.setdefault(id(tensor), set()).add(node.operation.name)
    pools = []
    for layer in folded.layers:
        if isinstance(layer, keras.layers.AveragePooling2D) and type(layer) is keras.layers.AveragePooling2D \
                and layer.data_format == "channels_last" and len(readers.get(id(layer.input), ())) > 1:
            pools.append(layer.name)
    return pools


def _targets(folded):
    prelu, batchnorm = [], []
    for layer in folded.layers:
        if isinstance(layer, keras.layers.PReLU) and _per_channel_prelu(layer, layer.input.shape):
            prelu.append(layer.name)
        elif isinstance(layer, keras.layers.BatchNormalization) and layer.axis in (-1, 3) \
                and len(layer.input.shape) == 4:
            batchnorm.append(layer.name)
    return {"prelu": prelu, "batchnorm": batchnorm, "average_pool": _shared_input_pools(folded)}


def lower_for_int8(model):
    """Inference clone of ``model`` whose PReLUs and batch norms run as int8-friendly ops (module docstring).

    Args:
        model: a functional or Sequential ``keras.Model``.

    Returns:
        A functional ``keras.Model`` (same name, inputs, outputs and layer
        names; ``trainable`` False): its float outputs equal ``model``'s in
        inference up to float32 rounding. Export it; do not train it.
    """
    folded = fold_batchnorm(_graph_model(model))
    targets = _targets(folded)
    prelus, norms, pools = set(targets["prelu"]), set(targets["batchnorm"]), set(targets["average_pool"])
    if not prelus and not norms and not pools:
        return folded

    def clone(layer):
        if layer.name in prelus:
            return LoweredPReLU(int(layer.input.shape[-1]), name=layer.name)
        if layer.name in norms:
            return keras.layers.DepthwiseConv2D(1, use_bias=True, name=layer.name)
        if layer.name in pools:
            return RequantizedAveragePooling2D.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    def call(layer, *args, **kwargs):
        # A batch norm's call kwargs (training, mask) mean nothing to the replacements.
        return layer(*args) if layer.name in prelus | norms else layer(*args, **kwargs)

    lowered = keras.models.clone_model(folded, clone_function=clone, call_function=call)
    for layer in folded.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        target = lowered.get_layer(layer.name)
        if layer.name in prelus:
            target.set_alpha(layer.get_weights()[0])
        elif layer.name in norms:
            scale, shift = _bn_scale_shift(layer)
            target.set_weights([scale.reshape(1, 1, -1, 1).astype(np.float32), shift.astype(np.float32)])
        else:
            target.set_weights(layer.get_weights())
    lowered.trainable = False
    return lowered
