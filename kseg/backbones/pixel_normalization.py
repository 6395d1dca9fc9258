"""In-graph pixel normalisation, so every model takes raw 0..255 pixels."""

import keras
from keras import ops

# keras.applications conventions (keras/src/applications/imagenet_utils.py).
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
_TORCH_STD_RGB = (0.229, 0.224, 0.225)

MODES = ("caffe", "tf", "torch", "scale", "none")


def _per_channel(values, channels):
    # Images that are not RGB (grayscale, multispectral) cannot use per-colour
    # statistics; the average over colours keeps the same overall range.
    if channels == 3:
        return list(values)
    return [sum(values) / len(values)] * channels


@keras.saving.register_keras_serializable(package="kseg")
class PixelNormalization(keras.layers.Layer):
    """Maps raw pixels in [0, 255] to what a backbone's weights expect.

    Modes follow ``keras.applications.imagenet_utils.preprocess_input``:

    - ``"caffe"`` (VGG16, ResNet50/101): RGB -> BGR, then subtract the
      ImageNet BGR mean; no scaling.
    - ``"tf"`` (MobileNetV2, Xception): ``x / 127.5 - 1``, range [-1, 1].
    - ``"torch"``: ``x / 255``, then subtract the ImageNet RGB mean and
      divide by its standard deviation.
    - ``"scale"``: ``x / 255`` (networks trained from scratch).
    - ``"none"``: identity.

    With a channel count other than 3, ``"caffe"`` and ``"torch"`` use the
    average of the three colour statistics for every channel and do not
    flip channels.

    Input: ``(B, H, W, C)`` floating point, raw pixels. Output: same shape,
    in the layer's compute dtype.
    """

    def __init__(self, mode="scale", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"PixelNormalization: mode must be one of {MODES}, got {mode!r}.")
        self.mode = mode

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("PixelNormalization: the channel dimension of the input must be known.")
        self._channels = int(channels)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        c = self._channels
        if self.mode == "caffe":
            if c == 3:
                x = ops.flip(x, axis=-1)
            mean = _per_channel(_CAFFE_MEAN_BGR, c)
            return x - ops.convert_to_tensor(mean, dtype=x.dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_per_channel(_TORCH_MEAN_RGB, c), dtype=x.dtype)
            std = ops.convert_to_tensor(_per_channel(_TORCH_STD_RGB, c), dtype=x.dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "scale":
            return x / 255.0
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config
