"""Max unpooling: put pooled values back at their argmax positions (SegNet)."""

import keras
from keras import ops

from kseg.layers._validation import one_of, positive_int_pair
from kseg.layers.upsample2d import nearest_upsample


@keras.saving.register_keras_serializable(package="kseg")
class MaxUnpooling2D(keras.layers.Layer):
    """Inverse of ``MaxPoolingWithArgmax2D``: a sparse map with zeros elsewhere.

    Call on ``[values, indices]`` or ``[values, indices, reference]``:
        values: ``(B, h, w, C)`` float, the pooled (and usually processed) map.
        indices: ``(B, h, w, C)`` integer per-sample flat positions
            ``(y * W + x) * C + c`` from ``MaxPoolingWithArgmax2D``.
        reference: optional tensor ``(B, H, W, ...)`` whose spatial size is
            the output size; without it the output is ``(h * s, w * s)``.
            Pass the pre-pool tensor so odd sizes round-trip (45 -> 23 -> 45).

    Returns ``(B, H, W, C)`` of the values' dtype.

    The default formulation compares each output position with the index of
    the value whose window covers it (nearest-upsampled values and indices,
    one equality test): builtin TFLite ops only, XLA-friendly, and the exact
    inverse when indices come from non-overlapping ``size x size`` windows,
    as in SegNet. ``implementation="scatter"`` scatters with
    ``tensor_scatter_nd``-style addition and accepts indices from any
    pooling (overlapping windows add up where they share a maximum), at the
    cost of an op that TFLite int8 and some delegates do not support.
    Gradients flow to ``values`` in both formulations.
    """

    def __init__(self, size=2, implementation="compare", **kwargs):
        super().__init__(**kwargs)
        self.size = positive_int_pair(size, "size")
        self.implementation = one_of(implementation, "implementation", ("compare", "scatter"))

    def _check_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(
                "MaxUnpooling2D expects `[values, indices]` or `[values, indices, reference]`; "
                f"got {type(inputs).__name__} of length {len(inputs) if isinstance(inputs, (list, tuple)) else 1}."
            )
        values, indices = inputs[0], inputs[1]
        v_shape, i_shape = tuple(values.shape), tuple(indices.shape)
        if len(v_shape) != 4 or len(i_shape) != 4 or any(
            a is not None and b is not None and a != b for a, b in zip(v_shape[1:], i_shape[1:])
        ):
            raise ValueError(
                f"MaxUnpooling2D: `values` {v_shape} and `indices` {i_shape} must be 4-D with the same "
                "(H, W, C)."
            )
        if len(inputs) == 3 and len(inputs[2].shape) != 4:
            raise ValueError(f"MaxUnpooling2D: `reference` must be 4-D (B, H, W, C); got {tuple(inputs[2].shape)}.")

    def _output_hw(self, inputs):
        if len(inputs) == 3:
            ref = ops.shape(inputs[2])
            return ref[1], ref[2]
        shape = ops.shape(inputs[0])
        return shape[1] * self.size[0], shape[2] * self.size[1]

    def call(self, inputs):
        self._check_inputs(inputs)
        values, indices = inputs[0], ops.cast(inputs[1], "int32")
        out_h, out_w = self._output_hw(inputs)
        if self.implementation == "scatter":
            return self._scatter(values, indices, out_h, out_w)
        sh, sw = self.size
        shape = ops.shape(values)
        h, w, channels = shape[1], shape[2], shape[3]

        def upsample(t, fill):
            t = nearest_upsample(t, self.size)
            # "valid" pooling drops the last odd row/column: pad them back empty.
            pad_h, pad_w = ops.maximum(out_h - h * sh, 0), ops.maximum(out_w - w * sw, 0)
            t = ops.pad(t, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], constant_values=fill)
            return t[:, :out_h, :out_w, :]

        rows = ops.reshape(ops.arange(out_h, dtype="int32"), (1, -1, 1, 1))
        cols = ops.reshape(ops.arange(out_w, dtype="int32"), (1, 1, -1, 1))
        chan = ops.reshape(ops.arange(channels, dtype="int32"), (1, 1, 1, -1))
        position = (rows * out_w + cols) * channels + chan
        up_values = upsample(values, 0)
        return ops.where(upsample(indices, -1) == position, up_values, ops.zeros_like(up_values))

    def _scatter(self, values, indices, out_h, out_w):
        shape = ops.shape(values)
        batch, channels = shape[0], shape[3]
        per_sample = out_h * out_w * channels
        offsets = ops.reshape(ops.arange(batch, dtype="int32") * per_sample, (-1, 1, 1, 1))
        flat_idx = ops.reshape(indices + offsets, (-1, 1))
        flat = ops.scatter(flat_idx, ops.reshape(values, (-1,)), (batch * per_sample,))
        return ops.reshape(flat, (batch, out_h, out_w, channels))

    def compute_output_shape(self, input_shapes):
        values = input_shapes[0]
        if len(input_shapes) == 3:
            ref = input_shapes[2]
            return (values[0], ref[1], ref[2], values[3])
        scale = lambda d, s: None if d is None else d * s  # noqa: E731
        return (values[0], scale(values[1], self.size[0]), scale(values[2], self.size[1]), values[3])

    def compute_output_spec(self, inputs):
        self._check_inputs(inputs)
        shapes = [tuple(t.shape) for t in inputs]
        return keras.KerasTensor(self.compute_output_shape(shapes), dtype=inputs[0].dtype)

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, implementation=self.implementation)
        return config
