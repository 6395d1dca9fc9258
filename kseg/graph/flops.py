"""Analytical FLOP count of a model at a given input size.

What is counted: the multiply-accumulates of every convolution (regular,
transposed, depthwise, separable) and dense layer, times 2 (one MAC = two
FLOPs), for one image. Biases, batch norm, activations, pooling, unpooling
and resizing are left out: they are elementwise, well under 1% of the total
for the zoo's models, and counting them would make the number depend on
how TensorFlow happens to fuse them. This is the convention of the papers'
"GFLOPs" tables, computed from the model's own graph at the requested size.
"""

import keras
import numpy as np

from kseg import _compat


def _spatial(shape):
    return int(np.prod(shape[1:-1]))


def _node_flops(layer, in_shape, out_shape):
    """FLOPs of one call of ``layer`` (batch dimension excluded), 0 if not counted."""
    if isinstance(layer, keras.layers.Conv2DTranspose):
        kernel = int(np.prod(layer.kernel_size))
        return 2 * _spatial(in_shape) * in_shape[-1] * kernel * layer.filters
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kernel = int(np.prod(layer.kernel_size))
        return 2 * _spatial(out_shape) * in_shape[-1] * layer.depth_multiplier * kernel
    if isinstance(layer, keras.layers.SeparableConv2D):
        kernel = int(np.prod(layer.kernel_size))
        depthwise = in_shape[-1] * layer.depth_multiplier
        return 2 * _spatial(out_shape) * depthwise * (kernel + layer.filters)
    if isinstance(layer, keras.layers.Conv2D):
        kernel = int(np.prod(layer.kernel_size))
        return 2 * _spatial(out_shape) * layer.filters * kernel * in_shape[-1] // layer.groups
    if isinstance(layer, keras.layers.Dense):
        return 2 * _spatial(in_shape) * in_shape[-1] * layer.units if len(in_shape) > 2 else (
            2 * in_shape[-1] * layer.units
        )
    return 0


def _sublayer_flops(layer, args, kwargs):
    """FLOPs of the convolutions a custom layer (ASPP, say) runs inside its ``call``.

    The layer is re-run symbolically while each sublayer's class is swapped
    for a subclass that records its input/output shapes; the classes are
    restored afterwards.
    """
    subs = _compat.flatten_layers(layer)
    if not subs:
        return 0
    total = 0

    def counting(cls):
        def __call__(self, *a, **k):
            nonlocal total
            out = cls.__call__(self, *a, **k)
            if a and hasattr(a[0], "shape") and hasattr(out, "shape"):
                total += _node_flops(self, tuple(a[0].shape), tuple(out.shape))
            return out

        return type(cls.__name__, (cls,), {"__call__": __call__})

    originals = [(sub, sub.__class__) for sub in subs]
    try:
        for sub, cls in originals:
            sub.__class__ = counting(cls)
        layer.call(*args, **kwargs)
    finally:
        for sub, cls in originals:
            sub.__class__ = cls
    return total


def flops(model, input_shape):
    """FLOPs of one forward pass of ``model`` on one image of ``input_shape``.

    Args:
        model: a built ``keras.Model`` (nested models are counted through).
        input_shape: ``(H, W, C)`` with positive ints, e.g. ``(512, 512, 3)``.

    Returns:
        int: 2 x the multiply-accumulates of all convolution and dense
        layers (see the module docstring for what is left out).
    """
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"flops: `input_shape` must be (height, width, channels) positive ints, got {input_shape!r}.")
    expected = tuple(model.input_shape[1:])
    if len(expected) != 3 or any(e is not None and e != s for e, s in zip(expected, shape)):
        raise ValueError(f"flops: `input_shape` {shape} does not fit the model's input shape {expected}.")

    total = 0

    def count(layer, *args, **kwargs):
        nonlocal total
        outputs = layer(*args, **kwargs)
        first = args[0] if args else None
        if isinstance(layer, keras.Model):
            # clone_model does not trace inside nested models at the new size.
            total += flops(layer, tuple(first.shape[1:]))
        elif hasattr(first, "shape") and hasattr(outputs, "shape"):
            own = _node_flops(layer, tuple(first.shape), tuple(outputs.shape))
            total += own if own else _sublayer_flops(layer, args, kwargs)
        return outputs

    # Re-running the graph on a symbolic input of the concrete size (layers
    # reused, no weights copied) gives every layer its input/output shapes.
    keras.models.clone_model(
        model,
        input_tensors=keras.Input(shape=shape, batch_size=1, dtype=model.inputs[0].dtype),
        clone_function=lambda layer: layer,
        call_function=count,
    )
    return int(total)
