"""Tiny models for the quantization tests (32-48 px inputs: each int8 conversion takes seconds)."""

import keras
import numpy as np


def bad_range_model():
    """conv_a (3x3) beside ``bad_range``, a 1x1 conv that is zero unless a pixel's channel sum exceeds 700;
    concatenated, then a 1x1 head. Calibrated on pixels <= 240 (sums <= 720) its range is [0, ~20];
    on brighter images it reaches ~65 and saturates: a deliberately bad range."""
    inputs = keras.Input((32, 32, 3), name="images")
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inputs / 255.0)
    bad = keras.layers.Conv2D(1, 1, activation="relu", name="bad_range")(inputs)
    x = keras.layers.Concatenate(name="concat")([a, bad])
    outputs = keras.layers.Conv2D(3, 1, name="head")(x)
    model = keras.Model(inputs, outputs, name="bad_range_net")
    rng = np.random.default_rng(0)
    conv_a = model.get_layer("conv_a")
    # conv_a reaches ~100, so the concat's shared range holds bad_range's true values (up to ~65) too:
    # keeping bad_range alone in float is then enough.
    conv_a.set_weights([rng.normal(0, 30.0, conv_a.kernel.shape).astype("float32"), np.zeros(4, "float32")])
    model.get_layer("bad_range").set_weights([np.ones((1, 1, 3, 1), "float32"), np.array([-700.0], "float32")])
    # Class 2 wins where bad_range exceeds 30 (channel sums above 730): never on the calibration images.
    head = np.zeros((1, 1, 5, 3), "float32")
    head[0, 0, :4] = rng.normal(0, 0.2, (4, 3))
    head[0, 0, 4, 2] = 1.0
    model.get_layer("head").set_weights([head, np.array([0.0, 0.0, -30.0], "float32")])
    return model


def calibration_images(n=8, high=240, low=0, size=32, seed=0):
    return np.random.default_rng(seed).integers(low, high + 1, (n, size, size, 3)).astype("uint8")
