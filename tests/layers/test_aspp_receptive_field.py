import keras
import numpy as np
import pytest

from kseg.layers import ASPP, MaxPoolingWithArgmax2D, receptive_field


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
    ({"rates": ()}, "rates"), ({"rates": (6, -1)}, "rates"), ({"rates": 6}, "rates"), ({"filters": 0}, "filters"),
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


def test_receptive_field_functional_branches_take_widest():
    inp = keras.Input((None, None, 1))
    a = keras.layers.Conv2D(1, 3)(inp)
    b = keras.layers.Conv2D(1, 3, dilation_rate=3)(inp)
    out = keras.layers.Conv2D(1, 1)(keras.layers.Concatenate()([a, b]))
    assert receptive_field(keras.Model(inp, out)) == (7, 1)


def test_receptive_field_rejects_other_objects():
    with pytest.raises(ValueError, match="keras.Model"):
        receptive_field("vgg16")
