"""`with_input_scale(m, s)` is resize -> m -> resize, checked against a NumPy bilinear resize."""

import keras
import numpy as np
import pytest

from kseg.models import segnet_basic, with_input_scale


def numpy_bilinear_resize(x, height, width):
    """``(B, H, W, C)`` -> ``(B, height, width, C)``, half-pixel centres, no antialiasing."""
    def taps(n_in, n_out):
        centres = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        centres = np.clip(centres, 0, n_in - 1)
        lo = np.floor(centres).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, centres - lo

    y0, y1, fy = taps(x.shape[1], height)
    x0, x1, fx = taps(x.shape[2], width)
    x = x.astype(np.float64)
    rows = x[:, y0] * (1 - fy)[None, :, None, None] + x[:, y1] * fy[None, :, None, None]
    return rows[:, :, x0] * (1 - fx)[None, None, :, None] + rows[:, :, x1] * fx[None, None, :, None]


@pytest.fixture(scope="module")
def network():
    keras.utils.set_random_seed(5)
    return segnet_basic(num_classes=3, filters=4, kernel_size=3, stages=2)


@pytest.mark.parametrize("scale, size, scaled", [(0.5, (24, 40), (12, 20)), (0.75, (30, 26), (22, 20)),
                                                 (2.0, (10, 12), (20, 24))])
def test_scaled_model_equals_resize_network_resize(network, scale, size, scaled):
    images = np.random.default_rng(0).uniform(0, 255, (2, *size, 3)).astype("float32")
    wrapped = with_input_scale(network, scale)
    got = keras.ops.convert_to_numpy(wrapped(images))

    small = numpy_bilinear_resize(images, *scaled).astype("float32")  # round(H * s), round(W * s)
    logits = keras.ops.convert_to_numpy(network(small))
    expected = numpy_bilinear_resize(logits, *size)
    assert got.shape == (2, *size, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # Not the unscaled network: the scale changes what it sees.
    assert np.abs(got - keras.ops.convert_to_numpy(network(images))).max() > 1e-2


def test_scale_one_is_the_model_itself_and_bad_scales_are_refused(network):
    assert with_input_scale(network, 1) is network
    for bad in (0, -0.5, 4.5):
        with pytest.raises(ValueError, match="`scale` must be in"):
            with_input_scale(network, bad)


def test_scaled_model_reloads_with_safe_mode(network, tmp_path):
    wrapped = with_input_scale(network, 0.5)
    path = tmp_path / "scaled.keras"
    wrapped.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    images = np.random.default_rng(1).uniform(0, 255, (1, 16, 24, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(images)),
                                  keras.ops.convert_to_numpy(wrapped(images)))
