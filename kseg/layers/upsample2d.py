"""Upsampling by interpolation (nearest, bilinear, bicubic) with builtin TFLite ops."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kseg.layers._validation import one_of, positive_int_pair

INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
_KEYS_A = -0.5  # the cubic convolution kernel of TF, OpenCV and Keras
_TF_TABLE_SIZE = 1024  # TF rounds bicubic sample positions to 1/1024


def _keys_cubic(d):
    d = abs(d)
    if d <= 1:
        return (_KEYS_A + 2) * d**3 - (_KEYS_A + 3) * d**2 + 1
    if d < 2:
        return _KEYS_A * d**3 - 5 * _KEYS_A * d**2 + 8 * _KEYS_A * d - 4 * _KEYS_A
    return 0.0


def bicubic_phase_taps(scale):
    """Per output phase ``p`` of an integer upscale: ``[(offset, weight), ...]``.

    Output pixel ``i * scale + p`` samples the input at ``i + t`` with
    half-pixel centres, ``t = (p + 0.5) / scale - 0.5``; the four Keys taps sit
    at fixed offsets from ``i``, so each phase is a fixed 4-tap filter.
    """
    taps = []
    for phase in range(scale):
        t = (phase + 0.5) / scale - 0.5
        base = int(np.floor(t))
        frac = round((t - base) * _TF_TABLE_SIZE) / _TF_TABLE_SIZE
        taps.append([(base + k - 1, _keys_cubic(frac + 1 - k)) for k in range(4)])
    return taps


def _interleave(phases, axis):
    """Stack per-phase maps along ``axis`` so phase ``p`` lands at ``i * s + p``."""
    stacked = ops.stack(phases, axis=axis + 1)
    shape = ops.shape(stacked)
    new_shape = [shape[d] for d in range(axis)] + [shape[axis] * len(phases)]
    new_shape += [shape[d] for d in range(axis + 2, len(stacked.shape))]
    return ops.reshape(stacked, new_shape)


def _bicubic_axis(x, scale, axis):
    """Bicubic x``scale`` along spatial ``axis`` (1 or 2) of a 4-D tensor.

    Taps outside the image weigh 0 and the rest are renormalised, as in
    ``tf.image.resize(method="bicubic")``: the same filter applied to a ones
    map gives the normaliser.
    """
    length = ops.shape(x)[axis]
    pad = [[0, 0]] * 4
    pad[axis] = [2, 2]
    padded = ops.pad(x, pad)
    ones_shape = [1, 1, 1, 1]
    ones_shape[axis] = -1
    ones = ops.reshape(ops.pad(ops.ones((length,), x.dtype), [[2, 2]]), ones_shape)

    def window(t, offset):
        start = 2 + offset
        return t[:, start : start + length] if axis == 1 else t[:, :, start : start + length]

    phases = []
    for taps in bicubic_phase_taps(scale):
        num = sum(float(w) * window(padded, off) for off, w in taps)
        den = sum(float(w) * window(ones, off) for off, w in taps)
        phases.append(num / den)
    return _interleave(phases, axis)


def _repeat_axis(x, times, axis):
    """Repeat every row (axis 1) or column (axis 2) ``times`` times, with tensors of rank <= 5."""
    if times == 1:
        return x
    x = ops.expand_dims(x, axis + 1)
    shape = ops.shape(x)
    target = [shape[d] for d in range(5)]
    target[axis + 1] = times
    x = ops.broadcast_to(x, target)
    merged = [shape[d] for d in range(5) if d != axis + 1]
    merged[axis] = merged[axis] * times
    return ops.reshape(x, merged)


def nearest_upsample(x, size):
    """Exact nearest-neighbour upscale by integer ``size = (sh, sw)`` of ``(B, H, W, C)``.

    One axis at a time so no tensor exceeds rank 5: TFLite's int8
    StridedSlice/BroadcastTo kernels stop at 5-D.
    """
    return _repeat_axis(_repeat_axis(x, size[0], 1), size[1], 2)


@keras.saving.register_keras_serializable(package="kseg")
class Upsample2D(keras.layers.Layer):
    """Upsample ``(B, H, W, C)`` to ``(B, H*sh, W*sw, C)`` by interpolation (not learnable).

    Args:
        size: int or pair of ints, the integer upscale factors.
        interpolation: ``"nearest"``, ``"bilinear"`` (half-pixel centres, as
            ``keras.layers.UpSampling2D``) or ``"bicubic"``.

    Bicubic is computed as a fixed-kernel, per-phase separable filter so it
    converts to TFLite with builtin ops only (``tf.image.resize`` bicubic
    needs Flex); it matches ``keras.layers.UpSampling2D(interpolation=
    "bicubic")`` to about 1e-6, borders included.
    """

    def __init__(self, size=2, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = positive_int_pair(size, "size")
        self.interpolation = one_of(interpolation, "interpolation", INTERPOLATIONS)

    def call(self, inputs):
        if self.interpolation == "nearest":
            return nearest_upsample(inputs, self.size)
        if self.interpolation == "bilinear":
            shape = ops.shape(inputs)
            out = tf.image.resize(inputs, (shape[1] * self.size[0], shape[2] * self.size[1]), "bilinear")
            return ops.cast(out, inputs.dtype)
        out = _bicubic_axis(inputs, self.size[0], axis=1) if self.size[0] > 1 else inputs
        return _bicubic_axis(out, self.size[1], axis=2) if self.size[1] > 1 else out

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else h * self.size[0], None if w is None else w * self.size[1], c)

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, interpolation=self.interpolation)
        return config
