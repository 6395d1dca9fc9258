import keras
import numpy as np
import pytest

from kseg import _compat
from kseg.layers import ASPP, MaxPoolingWithArgmax2D, receptive_field
from kseg.layers.aspp import run_layers

BN_EPSILON = 1e-3  # keras BatchNormalization default


@pytest.mark.parametrize("size", [(9, 13), (16, 16), (1, 1), (33, 20)])
def test_aspp_output_shape_dynamic(size):
    inp = keras.Input((None, None, 8))
    model = keras.Model(inp, ASPP(16, rates=(2, 4))(inp))
    out = model(np.random.default_rng(0).normal(size=(2, *size, 8)).astype("float32"))
    assert out.shape == (2, *size, 16)


def test_aspp_sum_merge_is_sum_of_dilated_branches():
    layer = ASPP(3, rates=(1, 2), image_pooling=False, merge="sum")
    x = np.random.default_rng(1).normal(size=(1, 6, 6, 2)).astype("float32")
    out = layer(x).numpy()
    expected = sum(branch[0](x).numpy() for branch in layer.branches)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert [b[0].dilation_rate for b in layer.branches] == [(1, 1), (2, 2)]


def test_aspp_image_pooling_branch_is_constant_over_space():
    layer = ASPP(4, rates=(2,), dropout=0.0)
    x = np.random.default_rng(2).normal(size=(1, 5, 7, 3)).astype("float32")
    layer(x)
    # Zero every branch but image pooling; the projection then sees a spatially constant map.
    for branch in layer.branches:
        branch[0].kernel.assign(np.zeros(branch[0].kernel.shape))
    out = layer(x).numpy()
    np.testing.assert_allclose(out, np.broadcast_to(out[:, :1, :1], out.shape), atol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"rates": (), "merge": "sum", "image_pooling": False}, "rates"), ({"rates": (6, -1)}, "rates"),
    ({"merge": "sum", "image_pooling": False, "separable": True}, "separable"),
    ({"separable": "yes"}, "separable"), ({"rates": 6}, "rates"), ({"filters": 0}, "filters"),
    ({"merge": "max"}, "merge"), ({"merge": "sum", "image_pooling": True}, "image_pooling"), ({"dropout": 1.5}, "dropout"),
])
def test_aspp_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ASPP(**kwargs)


def test_receptive_field_known_stacks():
    conv = keras.layers.Conv2D
    assert receptive_field([conv(1, 3, dilation_rate=r) for r in (1, 2, 4)]) == (15, 1)
    # VGG16 up to pool5: 212 px receptive field, stride 32 (a classic figure)
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(64, 64, 3))
    assert receptive_field(vgg) == (212, 32)
    assert receptive_field([conv(1, 7, strides=2), keras.layers.MaxPooling2D(3, strides=2)]) == (11, 4)
    assert receptive_field([conv(1, 3), MaxPoolingWithArgmax2D(2), conv(1, 3)]) == (8, 2)
    assert receptive_field([ASPP(4, rates=(6, 12))]) == (25, 1)
    assert receptive_field([ASPP(4, rates=(6, 12), separable=True)]) == (25, 1)
    # Light ASPP: the 1x1 branch is the widest local one (image pooling is global).
    assert receptive_field([conv(1, 3), ASPP(4, rates=())]) == (3, 1)


def test_receptive_field_functional_branches_take_widest():
    inp = keras.Input((None, None, 1))
    a = keras.layers.Conv2D(1, 3)(inp)
    b = keras.layers.Conv2D(1, 3, dilation_rate=3)(inp)
    out = keras.layers.Conv2D(1, 1)(keras.layers.Concatenate()([a, b]))
    assert receptive_field(keras.Model(inp, out)) == (7, 1)


def test_receptive_field_rejects_other_objects():
    with pytest.raises(ValueError, match="keras.Model"):
        receptive_field("vgg16")


def _randomize_batch_norms(layer, rng):
    """Give every batch norm non-trivial inference statistics."""
    for sub in _compat.flatten_layers(layer):
        if isinstance(sub, keras.layers.BatchNormalization):
            n = sub.gamma.shape[0]
            sub.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(size=n), rng.normal(size=n),
                             rng.uniform(0.5, 2.0, n)])


def _np_bn_relu(x, bn):
    gamma, beta, mean, var = (np.asarray(w) for w in bn.get_weights())
    return np.maximum((x - mean) / np.sqrt(var + BN_EPSILON) * gamma + beta, 0.0)


def _np_depthwise_same(x, kernel, rate):
    """Depthwise 3x3 'same' conv with dilation ``rate``: x (B,H,W,C), kernel (3,3,C,1)."""
    _, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (rate, rate), (rate, rate), (0, 0)))
    out = np.zeros_like(x)
    for i in range(3):
        for j in range(3):
            out += padded[:, i * rate:i * rate + h, j * rate:j * rate + w, :] * kernel[i, j, :, 0]
    return out


def test_aspp_separable_branch_matches_depthwise_then_pointwise():
    rng = np.random.default_rng(3)
    layer = ASPP(5, rates=(2, 3), separable=True, dropout=0.0)
    x = rng.normal(size=(2, 7, 9, 4)).astype("float32")
    layer(x)
    _randomize_batch_norms(layer, rng)
    for rate, branch in zip((2, 3), layer.branches[1:]):
        depthwise, dw_bn, _, pointwise, pw_bn, _ = branch
        assert isinstance(depthwise, keras.layers.DepthwiseConv2D) and depthwise.dilation_rate == (rate, rate)
        y = _np_bn_relu(_np_depthwise_same(x, np.asarray(depthwise.kernel), rate), dw_bn)
        y = _np_bn_relu(np.einsum("bhwc,cf->bhwf", y, np.asarray(pointwise.kernel)[0, 0]), pw_bn)
        np.testing.assert_allclose(run_layers(branch, x, training=False).numpy(), y, rtol=1e-4, atol=1e-4)
    # The layer projects [1x1 branch, separable branches, image pooling] exactly like the plain ASPP.
    maps = [run_layers(b, x, training=False).numpy() for b in layer.branches]
    pooled = run_layers(layer.pool_branch, x.mean(axis=(1, 2), keepdims=True), training=False).numpy()
    maps.append(np.broadcast_to(pooled, maps[0].shape))
    proj_conv, proj_bn = layer.projection[0], layer.projection[1]
    expected = _np_bn_relu(np.einsum("bhwc,cf->bhwf", np.concatenate(maps, -1), np.asarray(proj_conv.kernel)[0, 0]),
                           proj_bn)
    np.testing.assert_allclose(layer(x, training=False).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_light_aspp_is_1x1_and_image_pooling():
    c, f = 6, 8
    layer = ASPP(f, rates=(), dropout=0.0)
    inp = keras.Input((None, None, c))
    model = keras.Model(inp, layer(inp))
    assert model(np.ones((2, 5, 7, c), "float32")).shape == (2, 5, 7, f)
    assert len(layer.branches) == 1
    bn = 4 * f
    # 1x1 branch, pooling branch, projection of the 2 concatenated maps.
    assert layer.count_params() == (c * f + bn) + (c * f + bn) + (2 * f * f + bn)
    # Without image pooling the 1x1 branch goes straight to the projection.
    assert ASPP(f, rates=(), image_pooling=False)(np.ones((1, 3, 3, c), "float32")).shape == (1, 3, 3, f)


@pytest.mark.parametrize("kwargs", [{"rates": ()}, {"rates": (2, 4), "separable": True}])
def test_aspp_variants_config_and_keras_file_round_trip(kwargs, tmp_path):
    rng = np.random.default_rng(4)
    layer = ASPP(6, name="aspp", **kwargs)
    config = layer.get_config()
    assert config["rates"] == list(kwargs["rates"]) and config["separable"] == kwargs.get("separable", False)
    assert ASPP.from_config(config).get_config() == config
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, layer(inp))
    _randomize_batch_norms(layer, rng)
    x = rng.normal(size=(2, 6, 10, 3)).astype("float32")
    path = tmp_path / "aspp.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_layer("aspp").get_config() == config


def test_aspp_config_without_separable_loads_as_plain():
    """Configs saved before ``separable`` existed still load (plain 3x3 branches)."""
    config = ASPP(4, rates=(2,)).get_config()
    del config["separable"]
    layer = ASPP.from_config(config)
    assert not layer.separable and isinstance(layer.branches[1][0], keras.layers.Conv2D)
