"""Resize one tensor to another tensor's dynamic spatial size (skip fusion, any input size)."""

import keras
import tensorflow as tf
from keras import ops

from kseg.layers._validation import one_of


@keras.saving.register_keras_serializable(package="kseg")
class ResizeLike(keras.layers.Layer):
    """Call on ``[x, reference]``: resize ``x (B, h, w, C)`` to ``reference``'s ``(H, W)``.

    The reference may have any channel count; only its spatial size is read,
    at run time, so models built with ``input_shape=(None, None, C)`` work at
    any resolution. ``interpolation`` is ``"bilinear"`` (half-pixel centres)
    or ``"nearest"``. Returns ``(B, H, W, C)`` in ``x``'s dtype.
    """

    def __init__(self, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        self.interpolation = one_of(interpolation, "interpolation", ("bilinear", "nearest"))

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("ResizeLike expects `[x, reference]`.")
        x, reference = inputs
        size = ops.shape(reference)[1:3]
        out = tf.image.resize(x, size, method=self.interpolation)
        return ops.cast(out, x.dtype)

    def compute_output_shape(self, input_shapes):
        x, ref = input_shapes
        return (x[0], ref[1], ref[2], x[3])

    def get_config(self):
        config = super().get_config()
        config.update(interpolation=self.interpolation)
        return config
