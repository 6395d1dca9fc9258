import keras
import numpy as np
import pytest

from kseg.export.fold_batchnorm import fold_batchnorm, foldable_pairs


def _randomize_batchnorms(model, seed=0):
    """Non-trivial statistics, so folding is actually exercised."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(size=layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.3, 3.0, size=layer.moving_variance.shape))
            if layer.scale:
                layer.gamma.assign(rng.normal(size=layer.gamma.shape))
            if layer.center:
                layer.beta.assign(rng.normal(size=layer.beta.shape))


def _every_conv_kind():
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = keras.layers.BatchNormalization(name="dw_bn", epsilon=0.1)(x)
    x = keras.layers.SeparableConv2D(5, 3, padding="same", name="sep")(x)
    x = keras.layers.BatchNormalization(name="sep_bn", center=False)(x)
    x = keras.layers.Conv2DTranspose(3, 2, strides=2, name="tconv")(x)
    x = keras.layers.BatchNormalization(name="tconv_bn", scale=False)(x)
    # A conv whose output also feeds a skip connection must stay unfolded.
    y = keras.layers.Conv2D(3, 1, name="shared")(x)
    z = keras.layers.BatchNormalization(name="shared_bn")(y)
    outputs = keras.layers.Add()([y, z])
    model = keras.Model(inputs, outputs, name="every_conv_kind")
    _randomize_batchnorms(model)
    return model


def test_folds_every_conv_kind_and_matches_inference():
    model = _every_conv_kind()
    assert foldable_pairs(model) == [
        ("conv", "conv_bn"), ("dw", "dw_bn"), ("sep", "sep_bn"), ("tconv", "tconv_bn"),
    ]
    folded = fold_batchnorm(model)
    assert folded.name == model.name
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization) and layer.name != "shared_bn" for layer in folded.layers
    )
    x = np.random.default_rng(1).uniform(0, 1, (2, 10, 10, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(folded(x)), expected, rtol=1e-4, atol=1e-4)
    # The original is untouched.
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x, training=False)), expected)


def test_folded_weights_match_hand_computation():
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 1, use_bias=True, name="conv")(inputs)
    x = keras.layers.BatchNormalization(epsilon=0.0, name="bn")(x)
    model = keras.Model(inputs, x)
    model.get_layer("conv").set_weights([np.array([[[[2.0, -1.0]]]], np.float32), np.array([1.0, 0.5], np.float32)])
    # gamma, beta, mean, var: y = gamma * (x - mean) / sqrt(var) + beta
    model.get_layer("bn").set_weights([np.array([3.0, 1.0]), np.array([0.5, -2.0]), np.array([1.0, 4.0]), np.array([4.0, 0.25])])
    kernel, bias = fold_batchnorm(model).get_layer("conv").get_weights()
    # channel 0: scale 3/2 -> kernel 3, bias (1 - 1) * 1.5 + 0.5; channel 1: scale 2 -> kernel -2, bias (0.5 - 4) * 2 - 2
    np.testing.assert_allclose(kernel.reshape(-1), [3.0, -2.0])
    np.testing.assert_allclose(bias, [0.5, -9.0])


def test_sequential_model():
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3), keras.layers.BatchNormalization()])
    _randomize_batchnorms(model, seed=3)
    folded = fold_batchnorm(model)
    x = np.random.default_rng(2).normal(size=(1, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(folded(x)), keras.ops.convert_to_numpy(model(x, training=False)), atol=1e-5
    )


def test_keeps_pairs_it_must_not_fold():
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, activation="relu", name="conv_relu")(inputs)  # BN after ReLU
    x = keras.layers.BatchNormalization(name="bn_after_relu")(x)
    x = keras.layers.Conv2D(3, 1, name="conv_axis1")(x)
    x = keras.layers.BatchNormalization(axis=1, name="bn_axis1")(x)  # normalises rows, not channels
    assert foldable_pairs(keras.Model(inputs, x)) == []


def test_rejects_non_models_and_subclassed_models():
    with pytest.raises(TypeError, match="keras.Model"):
        fold_batchnorm("model.keras")

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="functional or Sequential"):
        fold_batchnorm(Subclassed())
