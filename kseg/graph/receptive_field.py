"""Theoretical receptive field and stride of a conv/pool stack, dilation included.

Keras' convolutions are recognised by class. Other layers by the attribute
names Keras' own layers use, which kseg's layers follow: ``pool_size`` and
``strides`` (a pooling window, like ``MaxPooling2D``; kseg's
``MaxPoolingWithArgmax2D``), ``size`` without a kernel (an upsampling
factor, like ``UpSampling2D``; kseg's ``Upsample2D`` and
``MaxUnpooling2D``) and ``rates`` (parallel 3x3 branches dilated by each
rate: kseg's ``ASPP``). This module needs no kseg layer, so ``kseg.layers``
can re-export it.
"""

import keras

from kseg import _compat


def _first(value):
    return value[0] if isinstance(value, (tuple, list)) else value


def _layer_step(layer):
    """``(effective kernel, stride factor)`` of one layer along the first spatial axis.

    A stride factor below 1 (upsampling) divides the stride. Layers that do
    not move information across pixels return ``(1, 1)``.
    """
    if isinstance(layer, keras.layers.Conv2DTranspose):
        return 1, 1.0 / _first(layer.strides)
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)):
        k, d = _first(layer.kernel_size), _first(layer.dilation_rate)
        return d * (k - 1) + 1, _first(layer.strides)
    if hasattr(layer, "pool_size") and hasattr(layer, "strides"):
        return _first(layer.pool_size), _first(layer.strides)
    if isinstance(getattr(layer, "rates", None), (list, tuple)):
        # ASPP: image pooling sees the whole image; the figure counts the widest dilated branch.
        return 2 * max(layer.rates, default=0) + 1, 1
    if hasattr(layer, "size") and not hasattr(layer, "kernel_size"):
        return 1, 1.0 / _first(layer.size)
    return 1, 1


def _advance(state, layer):
    rf, stride = state
    if isinstance(layer, keras.Model):
        sub_rf, sub_stride = receptive_field(layer)
        return rf + (sub_rf - 1) * stride, stride * sub_stride
    kernel, factor = _layer_step(layer)
    return rf + (kernel - 1) * stride, stride * factor


def receptive_field(model_or_layers):
    """Receptive field (pixels along one axis) and stride of the deepest output.

    Args:
        model_or_layers: a functional/sequential ``keras.Model`` (the graph is
            walked; where branches meet, the largest field and stride win) or
            a list of layers applied in order. Nested models count as one step.

    Returns:
        ``(receptive_field, stride)``: ints (stride may be a float after
        upsampling). Standard formula: each layer adds ``(k_eff - 1) * stride``
        with ``k_eff = dilation * (k - 1) + 1``. Three 3x3 convs with dilation
        1, 2, 4 give 15.
    """
    if isinstance(model_or_layers, (list, tuple)):
        state = (1, 1)
        for layer in model_or_layers:
            state = _advance(state, layer)
        return _tidy(state)
    model = model_or_layers
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"receptive_field expects a keras.Model or a list of layers; got {type(model).__name__}."
        )
    if not _compat.is_functional(model):
        # Sequential: a chain. Subclassed: no graph, the layers in the order they were created.
        return receptive_field(list(model.layers))
    states = {id(t): (1, 1) for t in model.inputs}
    deepest = (1, 1)
    for layer in model.operations:
        for node in _compat.inbound_nodes(layer):
            known = [states[id(t)] for t in node.input_tensors if id(t) in states]
            if not known:
                continue  # a node of this layer in another model
            rf_in = max(s[0] for s in known)
            stride_in = max(s[1] for s in known)
            state = _advance((rf_in, stride_in), layer)
            for t in node.output_tensors:
                states[id(t)] = state
            deepest = max(deepest, state)
    return _tidy(states.get(id(model.outputs[0]), deepest))


def _tidy(state):
    rf, stride = state
    stride = int(stride) if float(stride).is_integer() else stride
    return int(rf), stride
