"""The shared test every registered model passes, at small sizes."""

import os

import keras
import numpy as np
import pytest

import kseg.models
from kseg import _compat
from kseg._batch_norm import BN_MOMENTUM
from kseg.models import registry, small
from kseg.training import precise_batchnorm

# A registered model without a small configuration fails
# `test_every_registered_model_has_a_small_config`.
SMALL_CONFIGS = small.SMALL_CONFIGS
LEARNING_RATES = small.SMALL_LEARNING_RATES
NUM_CLASSES = 3
MODELS = kseg.models.available()


def small_model(name, input_shape=(None, None, 3)):
    keras.utils.set_random_seed(0)
    return kseg.models.build(name, num_classes=NUM_CLASSES, input_shape=input_shape, **SMALL_CONFIGS[name])


def synthetic_scene(height=64, width=64, seed=0):
    """A noisy image of three colour-coded regions and its int32 mask.

    Background ~45%, a rectangle ~30%, a disk ~25%, so a constant
    prediction scores well under 90% pixel accuracy.
    """
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), np.int32)
    mask[: height // 2, : int(width * 0.6)] = 1
    yy, xx = np.mgrid[:height, :width]
    mask[(yy - 0.7 * height) ** 2 + (xx - 0.6 * width) ** 2 < (0.28 * height) ** 2] = 2
    colours = np.array([[40, 60, 200], [220, 50, 40], [60, 210, 80]], np.float32)
    image = colours[mask] + rng.normal(0, 12, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.float32)[None], mask[None]


def compiled_small_model(name):
    model = small_model(name)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATES.get(name, 1e-3)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_every_registered_model_has_a_small_config():
    missing = sorted(set(MODELS) - set(SMALL_CONFIGS))
    assert not missing, f"registered models without a SMALL_CONFIGS entry: {missing}"


def test_registry_lists_the_architectures_and_rejects_unknown_names():
    assert {"fcn32s", "fcn16s", "fcn8s", "unet", "segnet", "segnet_basic"} <= set(MODELS)
    with pytest.raises(ValueError) as info:
        kseg.models.build("fcn4s", num_classes=2)
    for name in MODELS:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("unet")(lambda **kw: None)


@pytest.mark.parametrize("name", MODELS)
def test_builds_and_predicts_at_input_resolution(name):
    model = small_model(name)
    assert model.name == name
    # Batch-norm momentum 0.9 everywhere (kseg._batch_norm; the FCNs have no batch norm).
    momenta = {layer.momentum for layer in _compat.flatten_layers(model)
               if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta <= {BN_MOMENTUM}, momenta
    for height, width in [(64, 64), (96, 128)]:
        images = np.random.default_rng(1).uniform(0, 255, (2, height, width, 3)).astype("float32")
        logits = keras.ops.convert_to_numpy(model(images, training=False))
        assert logits.shape == (2, height, width, NUM_CLASSES)
        assert logits.dtype == np.float32
        assert np.isfinite(logits).all()
    # A static input size gives a static output size and, on the same
    # weights, the same logits as the dynamic-size model.
    fixed = small_model(name, input_shape=(64, 96, 3))
    assert tuple(fixed.output_shape) == (None, 64, 96, NUM_CLASSES)
    fixed.set_weights(model.get_weights())
    images = np.random.default_rng(2).uniform(0, 255, (1, 64, 96, 3)).astype("float32")
    dynamic_logits = keras.ops.convert_to_numpy(model(images, training=False))
    scale = np.abs(dynamic_logits).max()
    assert scale > 0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fixed(images, training=False)) / scale,
                               dynamic_logits / scale, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_fit_lowers_loss_overfits_one_image_and_reloads_identically(name, tmp_path):
    """One training per model serves three checks: the loss falls, the small
    variant overfits one image, and the trained model reloads identically."""
    images, masks = synthetic_scene(64, 64)
    model = compiled_small_model(name)
    accuracy, first_losses = 0.0, None
    for _ in range(20):  # at most 200 steps, checked every 10 (most models pass after 10-30)
        losses = model.fit(images, masks, epochs=10, verbose=0).history["loss"]
        first_losses = first_losses or losses
        # Moving averages lag the weights after a few hundred steps (see precise_batchnorm).
        precise_batchnorm(model, images)
        predicted = np.argmax(keras.ops.convert_to_numpy(model(images, training=False)), -1)
        accuracy = float((predicted == masks).mean())
        if accuracy > 0.9:
            break
    assert first_losses[-1] < first_losses[0], first_losses
    assert accuracy > 0.9, f"{name} reached only {accuracy:.3f} pixel accuracy"

    path = os.path.join(tmp_path, f"{name}.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(images, training=False)),
        keras.ops.convert_to_numpy(restored(images, training=False)),
    )
