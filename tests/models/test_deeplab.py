import keras
import numpy as np
import pytest

from kseg import _compat
from kseg.models.deeplab_v2 import deeplab_v2
from kseg.models.deeplab_v3 import deeplab_v3
from kseg.models.deeplab_v3_plus import deeplab_v3_plus

SMALL = dict(backbone="mobilenet_v2")


def _images(h, w, c=3):
    return np.random.default_rng(0).uniform(0, 255, (2, h, w, c)).astype("float32")


def _producer(model, layer_name):
    """Name of the layer whose output feeds ``layer_name``."""
    return _compat.producing_layer(model.get_layer(layer_name).input).name


@pytest.mark.parametrize("builder", [deeplab_v2, deeplab_v3, deeplab_v3_plus])
def test_output_shape_two_sizes_float32(builder):
    model = builder(num_classes=5, output_stride=16, **SMALL)
    assert model.name == builder.__name__
    for h, w in ((64, 64), (64, 96), (72, 100)):
        logits = model(_images(h, w))
        assert logits.shape == (2, h, w, 5) and logits.dtype == "float32"
        assert np.all(np.isfinite(np.asarray(logits)))


def test_aspp_rates_double_at_output_stride_8():
    assert deeplab_v3(num_classes=3, output_stride=16, **SMALL).get_layer("aspp").rates == (6, 12, 18)
    model = deeplab_v3_plus(num_classes=3, input_shape=(64, 96, 3), output_stride=8, **SMALL)
    aspp = model.get_layer("aspp")
    assert aspp.rates == (12, 24, 36) and aspp.image_pooling and aspp.merge == "concat"
    # The ASPP sees the stride-8 features of the dilated backbone.
    assert aspp.input.shape[1:3] == (8, 12)
    assert model.get_layer("block_16_depthwise").dilation_rate == (4, 4)
    with pytest.raises(ValueError, match="`output_stride` must be 32, 16 or 8"):
        deeplab_v3(num_classes=3, output_stride=4, **SMALL)


def test_deeplab_v2_aspp_is_summed_classifiers():
    model = deeplab_v2(num_classes=7, **SMALL)
    aspp = model.get_layer("aspp")
    assert aspp.rates == (6, 12, 18, 24) and aspp.merge == "sum" and aspp.filters == 7
    assert deeplab_v2(num_classes=7, output_stride=16, **SMALL).get_layer("aspp").rates == (3, 6, 9, 12)
    # Paper default: ResNet-101 at output stride 8.
    assert model.get_layer("block_13_depthwise").strides == (1, 1)


def test_decoder_uses_stride4_tap():
    model = deeplab_v3_plus(num_classes=3, input_shape=(64, 96, 3), **SMALL)
    assert _producer(model, "decoder_lowlevel_conv") == "block_3_expand_relu"
    assert model.get_layer("decoder_lowlevel_conv").output.shape[1:] == (16, 24, 48)
    assert model.get_layer("decoder_concat").output.shape[1:] == (16, 24, 256 + 48)
    assert model.get_layer("decoder_conv2").filters == 256
    assert _producer(model, "aspp") == "out_relu"


@pytest.mark.slow
def test_resnet50_default_and_parameter_count():
    """DeepLab V3 / V3+ at the paper's widths: backbone + ASPP counted by hand."""
    backbone = keras.applications.ResNet50(include_top=False, weights=None).count_params()
    c, f, k = 2048, 256, 21
    bn = 4 * f  # gamma, beta, moving mean, moving variance
    aspp = (c * f + bn) + 3 * (9 * c * f + bn) + (c * f + bn) + (5 * f * f + bn)
    v3 = deeplab_v3(num_classes=k, input_shape=(64, 64, 3))
    assert v3.count_params() == backbone + aspp + f * k + k
    decoder = (256 * 48 + 4 * 48) + (9 * (f + 48) * f + bn) + (9 * f * f + bn)
    v3p = deeplab_v3_plus(num_classes=k, input_shape=(64, 96, 3))
    assert v3p.count_params() == backbone + aspp + decoder + f * k + k
    assert _producer(v3p, "decoder_lowlevel_conv") == "conv2_block3_out"
    assert v3p.get_layer("conv5_block2_2_conv").dilation_rate == (2, 2)
    assert v3p(_images(64, 96)).shape == (2, 64, 96, k)
    # The defaults did not move when output_stride=32, aspp_rates and separable were added.
    assert (v3p.count_params(), deeplab_v3_plus(num_classes=k, input_shape=(64, 96, 3), **SMALL).count_params()) == (
        40_436_053, 13_399_317)


MOBILENET_OUT = 1280  # channels of MobileNetV2's out_relu, the ASPP input
BN = 4  # batch norm weights per channel


@pytest.mark.parametrize("builder", [deeplab_v3, deeplab_v3_plus])
def test_output_stride_32_is_undilated(builder):
    model = builder(num_classes=5, output_stride=32, **SMALL)
    aspp = model.get_layer("aspp")
    # Same image area as 6/12/18 at stride 16.
    assert aspp.rates == (3, 6, 9)
    assert model.get_layer("block_16_depthwise").dilation_rate == (1, 1)
    assert model.get_layer("block_13_depthwise").strides == (2, 2)
    for h, w in ((64, 64), (64, 96), (72, 100)):
        logits = model(_images(h, w))
        assert logits.shape == (2, h, w, 5) and logits.dtype == "float32"
    fixed = builder(num_classes=5, input_shape=(64, 96, 3), output_stride=32, aspp_rates=(6, 12, 18), **SMALL)
    assert fixed.get_layer("aspp").input.shape[1:3] == (2, 3)
    assert fixed.get_layer("aspp").rates == (6, 12, 18)


def test_light_aspp_parameter_count():
    """aspp_rates=() drops the three 3x3 branches and shrinks the projection."""
    f = 32
    full = deeplab_v3_plus(num_classes=3, aspp_filters=f, **SMALL)
    light = deeplab_v3_plus(num_classes=3, aspp_filters=f, aspp_rates=(), **SMALL)
    assert light.get_layer("aspp").rates == ()
    removed = 3 * (9 * MOBILENET_OUT * f + BN * f) + (5 - 2) * f * f
    assert full.count_params() - light.count_params() == removed
    assert light(_images(64, 96)).shape == (2, 64, 96, 3)


def test_separable_variant_counts_saves_and_reloads(tmp_path):
    f, low, dec = 16, 8, 24
    kwargs = dict(aspp_filters=f, low_level_filters=low, decoder_filters=dec, **SMALL)
    plain = deeplab_v3_plus(num_classes=3, **kwargs)
    model = deeplab_v3_plus(num_classes=3, separable=True, **kwargs)
    assert model.get_layer("aspp").separable
    assert isinstance(model.get_layer("decoder_conv1_depthwise"), keras.layers.DepthwiseConv2D)
    assert model.get_layer("decoder_conv2").filters == dec
    # Each 3x3 (c_in -> c_out) conv + BN becomes depthwise 3x3 + BN + 1x1 + BN.
    def saving(c_in, c_out):
        return 9 * c_in * c_out - (9 * c_in + BN * c_in + c_in * c_out)
    assert plain.count_params() - model.count_params() == (
        3 * saving(MOBILENET_OUT, f) + saving(f + low, dec) + saving(dec, dec))
    images = _images(64, 96)
    path = tmp_path / "v3p_separable.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    assert loaded.get_layer("aspp").get_config() == model.get_layer("aspp").get_config()


def test_grayscale_and_mixed_precision():
    model = deeplab_v3_plus(num_classes=4, input_shape=(None, None, 1), **SMALL)
    assert model(_images(64, 64, 1)).shape == (2, 64, 64, 4)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = deeplab_v3(num_classes=4, **SMALL)
        logits = model(_images(64, 64))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert logits.dtype == "float32"
    assert model.get_layer("aspp").compute_dtype == "bfloat16"


def test_argument_errors():
    with pytest.raises(ValueError, match="Known backbones"):
        deeplab_v3(num_classes=3, backbone="resnet18")
    with pytest.raises(ValueError, match="num_classes"):
        deeplab_v3_plus(num_classes=0, **SMALL)
    with pytest.raises(ValueError, match="at least 32"):
        deeplab_v3_plus(num_classes=3, input_shape=(16, 64, 3), **SMALL)
    with pytest.raises(ValueError, match="low_level_filters"):
        deeplab_v3_plus(num_classes=3, low_level_filters=0, **SMALL)
    with pytest.raises(ValueError, match="`output_stride` must be 8 or 16"):
        deeplab_v2(num_classes=3, output_stride=32, **SMALL)
    with pytest.raises(ValueError, match="aspp_rates"):
        deeplab_v3(num_classes=3, aspp_rates=(6, 0), **SMALL)
    with pytest.raises(ValueError, match="aspp_rates"):
        deeplab_v3_plus(num_classes=3, aspp_rates=6, **SMALL)
    with pytest.raises(ValueError, match="separable"):
        deeplab_v3_plus(num_classes=3, separable="yes", **SMALL)
