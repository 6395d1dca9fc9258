import keras
import numpy as np
import pytest
import tensorflow as tf

from kseg.layers import BilinearKernel, ResizeLike, Upsample2D, bilinear_filter


@pytest.mark.parametrize("size", [2, 3, 4, (2, 3)])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
def test_upsample_matches_keras_upsampling2d_whole_image(size, interpolation):
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 3)).astype("float32")
    ours = Upsample2D(size, interpolation)(x).numpy()
    ref = keras.layers.UpSampling2D(size, interpolation=interpolation)(x).numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5)  # borders included


def test_bicubic_tiny_images_and_dynamic_shapes():
    layer = Upsample2D(2, "bicubic")
    fn = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 1))])
    for h, w in [(1, 1), (1, 3), (2, 2), (6, 4)]:
        x = np.random.default_rng(h * 10 + w).normal(size=(1, h, w, 1)).astype("float32")
        ref = tf.image.resize(x, (2 * h, 2 * w), "bicubic").numpy()
        np.testing.assert_allclose(fn(x).numpy(), ref, atol=1e-5)


def test_bilinear_filter_values():
    np.testing.assert_allclose(bilinear_filter(4)[1], [0.1875, 0.5625, 0.5625, 0.1875])
    np.testing.assert_allclose(bilinear_filter(3)[1], [0.5, 1.0, 0.5])


@pytest.mark.parametrize("scale", [2, 4])
def test_bilinear_transposed_conv_reproduces_bilinear_upsampling(scale):
    init = BilinearKernel()
    layer = keras.layers.Conv2DTranspose(
        3, 2 * scale, strides=scale, padding="same", use_bias=False, kernel_initializer=init
    )
    h = w = 8
    ramp = np.tile(np.arange(w, dtype="float32")[None, None, :, None], (1, h, 1, 3))
    ramp[..., 1] *= 2.0  # channels stay separate: channel 1 keeps its own slope
    ones = np.full((1, h, w, 3), 5.0, "float32")
    interior = slice(scale, (h - 1) * scale)
    out_ramp, out_const = layer(ramp).numpy(), layer(ones).numpy()
    ref = tf.image.resize(ramp, (h * scale, w * scale), "bilinear").numpy()
    np.testing.assert_allclose(out_ramp[:, interior, interior], ref[:, interior, interior], atol=1e-5)
    np.testing.assert_allclose(out_const[:, interior, interior], 5.0, atol=1e-5)
    # a ramp stays a ramp: constant differences along x in the interior
    diffs = np.diff(out_ramp[0, h, interior, 1])
    np.testing.assert_allclose(diffs, diffs[0], atol=1e-5)
    assert abs(diffs[0] - 2.0 / scale) < 1e-5


def test_bilinear_kernel_rejects_mixing_shapes():
    with pytest.raises(ValueError, match="filters"):
        BilinearKernel()((4, 4, 3, 5))


def test_bilinear_kernel_is_learnable():
    layer = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same", kernel_initializer=BilinearKernel())
    layer.build((None, 4, 4, 2))
    assert layer.kernel.trainable


def test_resize_like_dynamic_size():
    inp = keras.Input((None, None, 4))
    ref = keras.Input((None, None, 1))
    model = keras.Model([inp, ref], ResizeLike()([inp, ref]))
    x = np.random.default_rng(1).normal(size=(2, 5, 7, 4)).astype("float32")
    for size in [(15, 21), (9, 13)]:
        out = model([x, np.zeros((2, *size, 1), "float32")]).numpy()
        np.testing.assert_allclose(out, tf.image.resize(x, size).numpy(), atol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"size": 0}, "size"), ({"size": (2, 2, 2)}, "size"), ({"interpolation": "area"}, "interpolation"),
])
def test_upsample_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Upsample2D(**kwargs)


def test_resize_like_argument_error():
    with pytest.raises(ValueError, match="interpolation"):
        ResizeLike("bicubic")
