"""Output stride by dilation: rewrite a functional CNN so its last stages keep
resolution (atrous algorithm, as in DeepLab) instead of resizing anything.

keras.applications has no dilation argument, so the graph is cloned with
modified layer configs: a stride that would take the network below
``output_stride`` becomes 1, and every later spatial convolution gets its
dilation multiplied by that stride. Weight shapes are unchanged, so weights
transfer by layer name.

Exactness: for a convolution whose stride moved into dilation the result at
positions ``output_stride * i`` equals the original network's output at ``i``
when the strided layer is a 1x1 conv (ResNet), a conv behind an explicit
ZeroPadding2D (MobileNetV2; the padding is rewritten here to keep the sampling
grid) or a ``pool_size == strides`` max pool (VGG). Pooling layers that sit
inside an already dilated stage cannot be dilated in Keras and are applied at
rate 1, as in DeepLab-v1/v2's VGG; 'same'-padded strided 3x3 layers (Xception's
pools) shift the grid by one pixel. Those cases are close but not exact.
"""

import keras

from kseg import _compat

_STRIDED = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)
_CONV = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
_POOL = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


def _producers(layer):
    """Layers whose outputs feed ``layer`` (its single call site)."""
    if isinstance(layer, keras.layers.InputLayer):
        return []
    inputs = layer.input
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    return [_compat.producing_layer(t) for t in inputs]


def _pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def _kernel(layer):
    config = layer.get_config()
    return _pair(config.get("kernel_size", config.get("pool_size", 1)))


def plan(model, output_stride):
    """Config overrides that give ``model`` the requested output stride.

    Args:
        model: functional ``keras.Model`` (e.g. a keras.applications CNN).
        output_stride: int, the largest stride any layer output may have.

    Returns:
        ``(overrides, strides)``: ``overrides`` maps layer name -> dict of
        config entries to replace; ``strides`` maps layer name -> the
        output stride of that layer in the rewritten network.
    """
    state = {}
    overrides = {}
    consumers = {}
    for layer in model.layers:
        producers = _producers(layer)
        for p in producers:
            consumers.setdefault(p.name, []).append(layer)
        if not producers:
            state[layer.name] = (1, 1)
            continue
        stride = max(state[p.name][0] for p in producers)
        rate = max(state[p.name][1] for p in producers)
        changes = {}
        if isinstance(layer, _CONV) and max(_kernel(layer)) > 1 and rate > 1:
            changes["dilation_rate"] = (rate, rate)
        if isinstance(layer, _STRIDED):
            step = _pair(layer.get_config()["strides"] or _kernel(layer))
            if step[0] != step[1]:
                raise ValueError(f"Layer {layer.name!r} has unequal strides {step}; cannot dilate it.")
            if step[0] > 1:
                if stride * step[0] > output_stride:
                    changes["strides"] = (1, 1)
                    rate *= step[0]
                    if isinstance(layer, _POOL) and layer.get_config()["padding"] == "valid":
                        # 'same' at stride 1 pads (0, k-1): exact when k == stride.
                        changes["padding"] = "same"
                else:
                    stride *= step[0]
        if changes:
            overrides[layer.name] = changes
        state[layer.name] = (stride, rate)

    # A ZeroPadding2D in front of a 'valid' conv sized the sampling grid for
    # the original stride/rate; rescale it so the dilated conv samples the
    # same input pixels (padding before = d*a, total = d*(k-1)).
    for layer in model.layers:
        if not isinstance(layer, keras.layers.ZeroPadding2D):
            continue
        users = consumers.get(layer.name, [])
        if len(users) != 1 or users[0].name not in overrides:
            continue
        conv = users[0]
        if not isinstance(conv, _CONV) or conv.get_config()["padding"] != "valid":
            continue
        rate = overrides[conv.name].get("dilation_rate", (1, 1))[0]
        (top, _), (left, _) = layer.get_config()["padding"]
        kh, kw = _kernel(conv)
        overrides[layer.name] = {
            "padding": (
                (rate * top, rate * (kh - 1) - rate * top),
                (rate * left, rate * (kw - 1) - rate * left),
            )
        }
    return overrides, {name: s for name, (s, _) in state.items()}


def clone_with_overrides(model, input_tensor, overrides, rename=None):
    """Rebuild ``model``'s graph on ``input_tensor`` with modified layer configs.

    The new layers are called directly on ``input_tensor``, so a model built
    from the returned tensors is flat (no nested backbone model). Weights are
    copied from ``model`` layer by layer.

    Args:
        model: functional ``keras.Model`` with a single input.
        input_tensor: KerasTensor ``(B, H, W, C)``.
        overrides: layer name -> config entries to replace (see ``plan``).
        rename: optional layer name -> new name.

    Returns:
        dict original layer name -> the cloned layer.
    """
    rename = rename or {}
    cloned = {}

    def clone_layer(layer):
        config = layer.get_config()
        config.update(overrides.get(layer.name, {}))
        config["name"] = rename.get(layer.name, layer.name)
        new = layer.__class__.from_config(config)
        cloned[layer.name] = new
        return new

    keras.models.clone_model(model, input_tensors=input_tensor, clone_function=clone_layer)
    for name, new in cloned.items():
        weights = model.get_layer(name).get_weights()
        if weights:
            new.set_weights(weights)
    return cloned
