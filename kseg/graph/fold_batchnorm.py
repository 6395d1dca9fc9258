"""Fold inference-mode batch norm into the convolution before it.

In inference a ``BatchNormalization`` after a convolution is a per-channel
affine map ``y = gamma * (x - mean) / sqrt(var + eps) + beta``, so it can be
folded into the convolution's kernel and bias: one op less per layer and one
full read/write of the activation tensor saved. The result is an
inference-only clone (training it would train a different network: the
folded model has no batch statistics).
"""

import keras
import numpy as np

from kseg import _compat

# Layer types whose output channels are the last axis of an affine kernel,
# with the axis of the kernel that indexes output channels.
_CONVS = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Conv2DTranspose,
)


def _is_linear(layer):
    return getattr(layer, "activation", None) in (None, keras.activations.linear)


def foldable_pairs(model):
    """``(conv_name, batchnorm_name)`` pairs that ``fold_batchnorm`` folds.

    A pair qualifies when, within ``model``'s own graph, the batch norm
    normalises the last axis and is called once, on the output of a
    convolution (Conv2D, DepthwiseConv2D, SeparableConv2D or
    Conv2DTranspose) that is called once, has a linear activation and feeds
    nothing but that batch norm. Layers of nested models are not considered
    (they are copied unchanged).
    """
    graph = _graph_model(model)
    # Layers reused from another model (keras.applications backbones) also
    # carry that model's nodes: look at this graph's nodes only.
    nodes = _compat.graph_nodes(graph)
    calls, consumers = {}, {}
    for node in nodes:
        calls.setdefault(id(node.operation), []).append(node)
        for parent in node.parent_nodes:
            consumers.setdefault(id(parent), []).append(node)
    output_ids = {id(tensor) for tensor in graph.outputs}
    pairs = []
    for layer in graph.layers:
        if not isinstance(layer, keras.layers.BatchNormalization) or len(calls.get(id(layer), ())) != 1:
            continue
        node = calls[id(layer)][0]
        rank = len(node.output_tensors[0].shape)
        if layer.axis not in (-1, rank - 1) or len(node.parent_nodes) != 1:
            continue
        parent = node.parent_nodes[0]
        conv = parent.operation
        if (
            isinstance(conv, _CONVS)
            and len(calls.get(id(conv), ())) == 1
            and len(consumers.get(id(parent), ())) == 1
            and not any(id(tensor) in output_ids for tensor in parent.output_tensors)
            and _is_linear(conv)
        ):
            pairs.append((conv.name, layer.name))
    return pairs


def _graph_model(model):
    """``model`` as a functional graph (a built Sequential is wrapped)."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}.")
    if isinstance(model, keras.Sequential):
        if not model.built:
            raise ValueError(f"Sequential model {model.name!r} must be built (give it an Input) before folding.")
        # clone_model takes call_function for functional graphs only.
        inputs, outputs = model.inputs, model.outputs
        return keras.Model(
            inputs[0] if len(inputs) == 1 else inputs, outputs[0] if len(outputs) == 1 else outputs, name=model.name
        )
    if not _compat.is_functional(model):
        raise ValueError(
            f"model {model.name!r} must be a functional or Sequential keras.Model (a graph of layers); "
            "subclassed models have no layer graph to rewrite."
        )
    return model


def _bn_scale_shift(bn):
    """Per-channel float64 ``scale``, ``shift`` with ``bn(x) == x * scale + shift``."""
    mean = np.asarray(keras.ops.convert_to_numpy(bn.moving_mean), np.float64)
    var = np.asarray(keras.ops.convert_to_numpy(bn.moving_variance), np.float64)
    gamma = np.asarray(keras.ops.convert_to_numpy(bn.gamma), np.float64) if bn.scale else np.ones_like(mean)
    beta = np.asarray(keras.ops.convert_to_numpy(bn.beta), np.float64) if bn.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(var + bn.epsilon)
    return scale, beta - mean * scale


def _folded_weights(conv, bn):
    """Weights of ``conv`` (now with a bias) equal to ``bn(conv(x))`` in inference."""
    scale, shift = _bn_scale_shift(bn)
    weights = [np.asarray(w, np.float64) for w in conv.get_weights()]
    bias = weights.pop() if conv.use_bias else np.zeros_like(scale)
    if isinstance(conv, keras.layers.DepthwiseConv2D):
        # (kh, kw, in, multiplier); output channel = in_index * multiplier + m
        kernel = weights[0]
        weights[0] = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
    elif isinstance(conv, keras.layers.SeparableConv2D):
        weights[1] = weights[1] * scale  # pointwise (1, 1, in * multiplier, filters)
    elif isinstance(conv, keras.layers.Conv2DTranspose):
        weights[0] = weights[0] * scale[:, None]  # (kh, kw, filters, in)
    else:
        weights[0] = weights[0] * scale  # (kh, kw, in / groups, filters)
    return [w.astype(np.float32) for w in [*weights, bias * scale + shift]]


def fold_batchnorm(model):
    """Inference clone of ``model`` with conv + batch norm pairs folded.

    Args:
        model: a functional or Sequential ``keras.Model``.

    Returns:
        A new functional ``keras.Model`` with the same name, inputs and outputs: every
        pair from ``foldable_pairs(model)`` becomes one convolution with a
        bias (the batch norm is replaced by an ``Identity`` layer of the same
        name); all other layers are copies with the original weights.
        Inference outputs equal the original's up to float32 rounding. Use
        it for export and serving only (``model.trainable`` is False).
    """
    graph = _graph_model(model)
    pairs = dict(foldable_pairs(graph))
    folded_bns = set(pairs.values())

    def clone(layer):
        if layer.name in folded_bns:
            return keras.layers.Identity(name=layer.name)
        config = layer.get_config()
        if layer.name in pairs:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    def call(layer, *args, **kwargs):
        # The batch norm's call kwargs (training, mask) mean nothing to Identity.
        return layer(*args) if layer.name in folded_bns else layer(*args, **kwargs)

    folded = keras.models.clone_model(graph, clone_function=clone, call_function=call)
    for layer in graph.layers:
        if layer.name in folded_bns or isinstance(layer, keras.layers.InputLayer):
            continue
        target = folded.get_layer(layer.name)
        if layer.name in pairs:
            target.set_weights(_folded_weights(layer, graph.get_layer(pairs[layer.name])))
        else:
            target.set_weights(layer.get_weights())
    folded.trainable = False
    return folded
