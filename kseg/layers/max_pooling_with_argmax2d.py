"""Max pooling that also returns where each maximum came from (SegNet).

Index convention (the one of ``tf.nn.max_pool_with_argmax`` with
``include_batch_in_index=False``): for an input of shape ``(B, H, W, C)`` the
index of element ``x[b, y, x, c]`` is the per-sample flat position
``(y * W + x) * C + c``, as int32. Ties inside a window go to the first
maximum in row-major order (smallest ``y``, then smallest ``x``).
"""

import keras
import tensorflow as tf
from keras import ops

from kseg.layers._validation import one_of, positive_int_pair

IMPLEMENTATIONS = ("auto", "builtin", "tf_op")


def _same_padding(size, pool, stride):
    """Output size and leading pad of TF "SAME" padding along one axis."""
    out = -(-size // stride)
    total = ops.maximum((out - 1) * stride + pool - size, 0)
    return out, total // 2


@keras.saving.register_keras_serializable(package="kseg")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """2-D max pooling returning ``(pooled, indices)``.

    Args:
        pool_size: int or pair, window size.
        strides: int or pair; defaults to ``pool_size``.
        padding: ``"valid"`` or ``"same"`` (TensorFlow semantics).
        implementation: ``"builtin"`` computes the indices with plain ops
            (strided slices, comparisons, selects): it runs under XLA and
            converts to TFLite with builtin ops only, and needs non-overlapping
            windows (``pool_size == strides``). ``"tf_op"`` uses
            ``tf.nn.max_pool_with_argmax`` (any windows; no XLA, TFLite needs
            Flex). ``"auto"`` picks ``"builtin"`` whenever it applies.

    Input: float tensor ``(B, H, W, C)``.
    Output: ``pooled`` ``(B, H', W', C)`` of the input dtype and ``indices``
    ``(B, H', W', C)`` int32, per-sample flat positions (module docstring).
    Both implementations give identical indices, ties included.
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", implementation="auto", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = positive_int_pair(pool_size, "pool_size")
        self.strides = positive_int_pair(strides if strides is not None else self.pool_size, "strides")
        self.padding = one_of(str(padding).lower(), "padding", ("valid", "same"))
        one_of(implementation, "implementation", IMPLEMENTATIONS)
        if implementation == "builtin" and self.pool_size != self.strides:
            raise ValueError(
                "`implementation='builtin'` needs non-overlapping windows (pool_size == strides); "
                f"got pool_size={self.pool_size}, strides={self.strides}. Use 'tf_op'."
            )
        self.implementation = implementation
        self._builtin = implementation == "builtin" or (
            implementation == "auto" and self.pool_size == self.strides
        )
        # tf.nn.max_pool_with_argmax has no XLA kernel (tensorflow#103438).
        self.supports_jit = self._builtin

    def call(self, inputs):
        pooled = tf.nn.max_pool2d(inputs, self.pool_size, self.strides, self.padding.upper())
        if not self._builtin:
            _, indices = tf.nn.max_pool_with_argmax(
                inputs, self.pool_size, self.strides, self.padding.upper(),
                output_dtype=tf.int32, include_batch_in_index=False,
            )
            return pooled, indices
        return pooled, self._builtin_indices(inputs, pooled)

    def _builtin_indices(self, x, pooled):
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        shape = ops.shape(x)
        height, width, channels = shape[1], shape[2], shape[3]
        out_h, out_w = ops.shape(pooled)[1], ops.shape(pooled)[2]
        if self.padding == "same":
            _, top = _same_padding(height, ph, sh)
            _, left = _same_padding(width, pw, sw)
        else:
            top = left = 0
        # Zero padding only gives the phases equal sizes; padded positions are
        # masked out below, so their value never matters.
        bottom = out_h * sh - height - top
        right = out_w * sw - width - left
        padded = ops.pad(x, [[0, 0], [top, ops.maximum(bottom, 0)], [left, ops.maximum(right, 0)], [0, 0]])
        rows = ops.reshape(ops.arange(out_h) * sh - top, (1, -1, 1, 1))
        cols = ops.reshape(ops.arange(out_w) * sw - left, (1, 1, -1, 1))
        chan = ops.reshape(ops.arange(channels), (1, 1, 1, -1))
        indices = ops.zeros_like(pooled, dtype="int32")
        taken = ops.zeros_like(pooled, dtype="bool")
        # Row-major window order makes the first maximum win, as the TF op does.
        for dy in range(ph):
            for dx in range(pw):
                phase = padded[:, dy : dy + out_h * sh : sh, dx : dx + out_w * sw : sw, :]
                y, xx = rows + dy, cols + dx
                inside = (y >= 0) & (y < height) & (xx >= 0) & (xx < width)
                hit = (phase == pooled) & inside & ops.logical_not(taken)
                flat = (y * width + xx) * channels + chan
                indices = ops.where(hit, ops.cast(flat, "int32") + ops.zeros_like(indices), indices)
                taken = taken | hit
        return indices

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        dims = []
        for size, pool, stride in ((h, self.pool_size[0], self.strides[0]), (w, self.pool_size[1], self.strides[1])):
            if size is None:
                dims.append(None)
            elif self.padding == "same":
                dims.append(-(-size // stride))
            else:
                dims.append((size - pool) // stride + 1)
        shape = (b, dims[0], dims[1], c)
        return shape, shape

    def compute_output_spec(self, inputs):
        shape = self.compute_output_shape(inputs.shape)[0]
        return (
            keras.KerasTensor(shape, dtype=inputs.dtype),
            keras.KerasTensor(shape, dtype="int32"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            pool_size=self.pool_size, strides=self.strides,
            padding=self.padding, implementation=self.implementation,
        )
        return config
