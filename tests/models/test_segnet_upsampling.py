"""SegNet's `upsampling` option: only the decoder's x2 upsampler changes."""

import numpy as np
import pytest

import keras
from kseg import models
from kseg.models import segnet, segnet_basic

METHODS = ("unpool", "transposed", "bilinear", "nearest")
TINY = dict(filters=4, kernel_size=3, stages=3)


def _bilinear_matrix(n_in, n_out):
    """(n_out, n_in) half-pixel-centre linear interpolation, edges clamped (tf.image.resize)."""
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, None)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), lo), 1 - (src - lo))
    np.add.at(m, (np.arange(n_out), hi), src - lo)
    return m


def _reference_upsample(x, method):
    """x2 upsampling of (B, h, w, C) in NumPy, before cropping."""
    if method == "nearest":
        return np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
    rows = _bilinear_matrix(x.shape[1], 2 * x.shape[1])
    cols = _bilinear_matrix(x.shape[2], 2 * x.shape[2])
    return np.einsum("ij,bjkc,lk->bilc", rows, x, cols)


def test_default_is_unpooling_with_its_layer_names_and_paper_parameter_count():
    model = segnet_basic(num_classes=11)
    names = {layer.name for layer in model.layers}
    assert {f"decoder_block{i}_unpool" for i in range(1, 5)} <= names
    assert not any(name.endswith(("_upsample", "_crop")) for name in names)
    assert model.count_params() == segnet_basic(num_classes=11, upsampling="unpool").count_params() == 1_417_099


@pytest.mark.parametrize("filters, stages", [(64, 4), (4, 3)])
def test_parameter_counts_only_transposed_adds_weights(filters, stages):
    counts = {m: segnet_basic(num_classes=11, filters=filters, kernel_size=7, stages=stages,
                              upsampling=m).count_params() for m in METHODS}
    assert counts["bilinear"] == counts["nearest"] == counts["unpool"]
    # One 4x4 C->C transposed conv with bias per decoder stage.
    assert counts["transposed"] - counts["unpool"] == stages * (filters * filters * 16 + filters)
    if filters == 64:
        assert counts["transposed"] - counts["unpool"] == 4 * (64 * 64 * 16 + 64) == 262_400


def test_full_segnet_transposed_adds_one_kernel_per_decoder_block():
    widths = [16, 32, 64, 128, 128]  # VGG16 widths at base_filters=16
    base = segnet(num_classes=5, base_filters=16).count_params()
    assert segnet(num_classes=5, base_filters=16, upsampling="bilinear").count_params() == base
    extra = segnet(num_classes=5, base_filters=16, upsampling="transposed").count_params() - base
    assert extra == sum(16 * c * c + c for c in widths)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("size", [(45, 37), (32, 48), (17, 17)])
def test_output_is_at_input_size_for_odd_sizes(method, size):
    model = models.build("segnet_basic", num_classes=3, upsampling=method, **TINY)
    x = np.random.default_rng(0).uniform(0, 255, (2, *size, 3)).astype("float32")
    y = model(x)
    assert tuple(y.shape) == (2, *size, 3) and y.dtype == "float32"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(y)))


@pytest.mark.parametrize("method", ["nearest", "bilinear", "transposed"])
def test_decoder_upsampling_values_match_numpy_and_keep_the_pixel_grid(method):
    # 13x11 -> pools to 7x6 -> 4x3; decoder stage 1 upsamples 7x6 to 14x12 and crops to 13x11.
    model = segnet_basic(num_classes=3, filters=3, kernel_size=3, stages=2, upsampling=method)
    probe = keras.Model(model.input, [model.get_layer("decoder_block2_conv_bn").output,
                                       model.get_layer("decoder_block1_crop").output])
    x = np.random.default_rng(1).uniform(0, 255, (2, 13, 11, 3)).astype("float32")
    low, up = (keras.ops.convert_to_numpy(t) for t in probe(x))
    assert low.shape == (2, 7, 6, 3) and up.shape == (2, 13, 11, 3)
    expected = _reference_upsample(low.astype("float64"), "nearest" if method == "nearest" else "bilinear")
    expected = expected[:, :13, :11]
    if method == "transposed":
        # At initialisation the bilinear kernel interpolates exactly in the interior;
        # the zero padding only changes the outermost pixels.
        up, expected = up[:, 1:-1, 1:-1], expected[:, 1:-1, 1:-1]
    np.testing.assert_allclose(up, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_save_and_load_in_safe_mode_gives_identical_outputs(method, tmp_path):
    model = segnet_basic(num_classes=3, upsampling=method, **TINY)
    x = np.random.default_rng(2).uniform(0, 255, (1, 21, 19, 3)).astype("float32")
    path = tmp_path / f"segnet_basic_{method}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)))


@pytest.mark.parametrize("builder", [segnet_basic, segnet])
@pytest.mark.parametrize("bad", ["bicubic", "Unpool", None, 2])
def test_unknown_upsampling_names_the_argument_and_choices(builder, bad):
    with pytest.raises(ValueError, match="`upsampling` must be one of 'unpool', 'transposed'"):
        builder(num_classes=3, upsampling=bad)
