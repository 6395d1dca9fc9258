"""precise_batchnorm: after it, each BN layer's moving statistics are those of the data fed."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kseg.training import precise_batchnorm


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    # A nested model: its BN must be found too.
    inner_in = keras.Input((None, None, 4))
    inner = keras.Model(inner_in, keras.layers.BatchNormalization(name="bn2")(
        keras.layers.Conv2D(5, 1, name="conv2")(inner_in)), name="inner")
    return keras.Model(inputs, inner(x))


def _features(model, images):
    """float64 inputs of bn1 and bn2 in training mode (what the BN layers normalise).

    The training-mode call of bn1 moves its averages: read the statistics first.
    """
    conv1 = model.get_layer("conv1")(images)
    bn1 = model.get_layer("bn1")(conv1, training=True)
    inner = model.get_layer("inner")
    conv2 = inner.get_layer("conv2")(keras.ops.relu(bn1))
    return [keras.ops.convert_to_numpy(t).astype(np.float64) for t in (conv1, conv2)]


def _stats(model):
    layers = [model.get_layer("bn1"), model.get_layer("inner").get_layer("bn2")]
    return [(keras.ops.convert_to_numpy(l.moving_mean), keras.ops.convert_to_numpy(l.moving_variance))
            for l in layers]


def test_one_batch_gives_its_batch_statistics_and_restores_momentum():
    model = _model()
    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    assert precise_batchnorm(model, images) == 1
    for (mean, var), feature in zip(_stats(model), _features(model, images)):
        np.testing.assert_allclose(mean, feature.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(var, feature.var(axis=(0, 1, 2)), rtol=1e-3)
    assert model.get_layer("bn1").momentum == 0.99


def test_several_batches_give_the_statistics_of_all_pixels_fed_and_steps_limits_them():
    model = _model()
    rng = np.random.default_rng(1)
    batches = [rng.uniform(0, 255 * (i + 1) / 3, (2, 8, 8, 3)).astype("float32") for i in range(3)]
    dataset = tf.data.Dataset.from_tensor_slices((np.concatenate(batches), np.zeros((6, 8, 8), np.int32))).batch(2)
    assert precise_batchnorm(model, dataset) == 3
    stats = _stats(model)  # before _features, whose training-mode calls move the averages
    # Each batch runs in training mode on its own, so bn2 sees bn1 normalised by that batch's statistics.
    per_batch = [_features(model, batch) for batch in batches]
    everything = [np.concatenate([features[i] for features in per_batch]) for i in range(2)]
    for (mean, var), feature in zip(stats, everything):
        np.testing.assert_allclose(mean, feature.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-3)
        # The pooled variance of all pixels, not the mean of per-batch variances (which differ here).
        np.testing.assert_allclose(var, feature.var(axis=(0, 1, 2)), rtol=1e-3)
    assert precise_batchnorm(model, batches, steps=1) == 1
    mean, _ = _stats(model)[0]
    np.testing.assert_allclose(mean, _features(model, batches[0])[0].mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-3)


def test_frozen_batchnorm_keeps_its_statistics_and_bad_arguments_are_named():
    model = _model()
    model.get_layer("bn1").trainable = False
    images = np.random.default_rng(2).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    precise_batchnorm(model, images)
    mean, var = _stats(model)[0]
    np.testing.assert_array_equal(mean, np.zeros(4))
    np.testing.assert_array_equal(var, np.ones(4))
    with pytest.raises(ValueError, match="steps must be a positive int"):
        precise_batchnorm(model, images, steps=0)
    with pytest.raises(ValueError, match="yielded no batch"):
        precise_batchnorm(model, [])
