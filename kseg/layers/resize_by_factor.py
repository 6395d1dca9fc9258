"""Resize by a (possibly fractional) factor of the dynamic input size."""

import keras
import tensorflow as tf
from keras import ops

from kseg.layers._validation import one_of


@keras.saving.register_keras_serializable(package="kseg")
class ResizeByFactor(keras.layers.Layer):
    """``(B, H, W, C)`` -> ``(B, round(H * factor), round(W * factor), C)``.

    Lets a network trained at a reduced scale run inside a model that takes
    and returns full-resolution tensors (see ``kseg.models.with_input_scale``).
    ``interpolation`` is ``"bilinear"`` (half-pixel centres) or ``"nearest"``;
    ``tf.image.resize`` antialiasing is off, as TFLite's builtin resize has none.
    """

    def __init__(self, factor, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor <= 16:
            raise ValueError(f"`factor` must be a number in (0, 16]; got {factor!r}.")
        self.factor = float(factor)
        self.interpolation = one_of(interpolation, "interpolation", ("bilinear", "nearest"))

    def _scaled(self, size):
        return ops.maximum(ops.cast(ops.round(ops.cast(size, "float32") * self.factor), "int32"), 1)

    def call(self, inputs):
        shape = ops.shape(inputs)
        size = ops.stack([self._scaled(shape[1]), self._scaled(shape[2])])
        return ops.cast(tf.image.resize(inputs, size, method=self.interpolation), inputs.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        scale = lambda d: None if d is None else max(1, int(round(d * self.factor)))  # noqa: E731
        return (b, scale(h), scale(w), c)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, interpolation=self.interpolation)
        return config
