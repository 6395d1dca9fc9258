"""Deterministic flip of an image or feature map (test-time augmentation)."""

import keras
from keras import ops

from kseg.layers._validation import one_of

_AXES = {"horizontal": 2, "vertical": 1}


@keras.saving.register_keras_serializable(package="kseg")
class Flip(keras.layers.Layer):
    """``(B, H, W, C)`` mirrored left-right (``"horizontal"``) or top-bottom (``"vertical"``).

    Always applied, in training and inference alike (``keras.layers.RandomFlip``
    is random and a no-op at inference). Its own inverse: flipping logits back
    after a network ran on a flipped image aligns them with the original
    (``kseg.models.with_tta``). Exports to TFLite as the builtin ``REVERSE_V2``.
    """

    def __init__(self, mode="horizontal", **kwargs):
        super().__init__(**kwargs)
        self.mode = one_of(mode, "mode", tuple(_AXES))

    def call(self, inputs):
        return ops.flip(inputs, axis=_AXES[self.mode])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode)
        return config
