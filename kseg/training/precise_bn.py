"""Precise batch-norm statistics: moving mean/variance recomputed with the final weights.

After a short run the moving averages (momentum 0.99) still mostly hold
their initial values, so the inference-mode model is a different (often
constant) predictor from the one that was trained. Recomputing them once,
with the weights frozen, measures what the weights learned (Wu & Johnson,
"Rethinking 'Batch' in BatchNorm", 2021: "precise BN").
"""

import itertools

import keras
import numpy as np

from kseg import _compat
from kseg._checks import positive_int


def _batches(data, steps):
    """Image batches of ``data`` (an array, or an iterable of arrays or (images, ...) tuples)."""
    if hasattr(data, "shape") and not isinstance(data, (list, tuple)):
        batches = [data]
    else:
        batches = data
    for batch in itertools.islice(iter(batches), steps):
        yield batch[0] if isinstance(batch, (list, tuple)) else batch


def batchnorm_layers(model):
    """Every ``BatchNormalization`` of ``model`` (nested models included) that updates in training mode."""
    return [layer for layer in _compat.flatten_layers(model)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def precise_batchnorm(model, data, steps=None):
    """Set every trainable BN layer's moving statistics to the statistics of ``data``.

    One training-mode forward pass per batch (no weight update; momentum 0
    for the pass, restored afterwards). Over several batches the result is
    the statistics of all pixels fed, each batch weighted by its number of
    examples: mean = mean of the batch means, variance = mean of
    (batch variance + batch mean^2) minus mean^2 (batches of one image size).
    Frozen BN layers (``trainable=False``) run in inference mode and keep
    their statistics.

    Args:
        model: a ``keras.Model``.
        data: float ``[N, H, W, C]`` raw pixels (one batch), or an iterable of
            such batches or of ``(images, masks)`` tuples (a ``tf.data.Dataset``).
        steps: use at most this many batches (None: all of ``data``).

    Returns:
        int: the number of batches used.

    Raises:
        ValueError: ``steps`` is not an int >= 1, or ``data`` yields no batch.
    """
    if steps is not None:
        steps = positive_int(steps, "steps", context="precise_batchnorm")
    layers = batchnorm_layers(model)
    momenta = [layer.momentum for layer in layers]
    sums = [[0.0, 0.0] for _ in layers]  # per layer: sum of n * mean, sum of n * (var + mean^2)
    count = total = 0
    try:
        for layer in layers:
            layer.momentum = 0.0
        for images in _batches(data, steps):
            model(images, training=True)
            n = int(keras.ops.shape(images)[0])
            for layer, acc in zip(layers, sums):
                mean = keras.ops.convert_to_numpy(layer.moving_mean).astype(np.float64)
                var = keras.ops.convert_to_numpy(layer.moving_variance).astype(np.float64)
                acc[0] = acc[0] + n * mean
                acc[1] = acc[1] + n * (var + mean**2)
            count, total = count + 1, total + n
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if count == 0:
        raise ValueError("precise_batchnorm: `data` yielded no batch.")
    if count > 1:
        for layer, (mean_sum, square_sum) in zip(layers, sums):
            mean = mean_sum / total
            layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
            layer.moving_variance.assign(np.maximum(square_sum / total - mean**2, 0.0)
                                         .astype(layer.moving_variance.dtype))
    return count


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recompute the batch-norm statistics with :func:`precise_batchnorm` before
    every validation pass of ``fit`` (Keras calls ``on_test_begin`` there), so
    the per-epoch validation scores and the checkpoints saved after them use
    statistics of the current weights rather than moving averages that lag them.

    Args:
        data: what :func:`precise_batchnorm` takes; an iterable is iterated
            anew each time (a shuffled ``tf.data`` pipeline gives other batches).
        steps: batches per recomputation (default 10).
    """

    def __init__(self, data, steps=10):
        super().__init__()
        self.data = data
        self.steps = positive_int(steps, "steps", context="PreciseBatchNorm")

    def on_test_begin(self, logs=None):
        precise_batchnorm(self.model, self.data, steps=self.steps)
