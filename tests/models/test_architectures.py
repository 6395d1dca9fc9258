"""FCN, U-Net and SegNet specifics: paper parameter counts, argmax unpooling,
pretrained encoder loading, argument errors, channel counts, mixed precision."""

import keras
import numpy as np
import pytest

from kseg.layers import bilinear_filter
from kseg.models import fcn8s, fcn16s, fcn32s, segnet, segnet_basic, unet


def conv_params(kernel, cin, cout, bias=True):
    return kernel * kernel * cin * cout + (cout if bias else 0)


def vgg16_conv_params():
    widths = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    return sum(conv_params(3, cin, cout) for cin, cout in zip(widths[:-1], widths[1:]))


@pytest.mark.slow
def test_fcn8s_has_the_papers_134m_parameters():
    model = fcn8s(num_classes=21)
    n = 21
    expected = (
        vgg16_conv_params()
        + conv_params(7, 512, 4096) + conv_params(1, 4096, 4096)           # fc6, fc7
        + conv_params(1, 4096, n) + conv_params(1, 512, n) + conv_params(1, 256, n)  # scorers
        + conv_params(4, n, n, False) * 2 + conv_params(16, n, n, False)  # upscore2, _pool4, 8
    )
    assert model.count_params() == expected == 134_489_759
    assert abs(expected - 134.5e6) / 134.5e6 < 0.02


@pytest.mark.slow
def test_unet_original_has_31m_parameters():
    model = unet(num_classes=2, batch_norm=False)
    widths = [64, 128, 256, 512, 1024]
    expected, cin = 0, 3
    for f in widths:                                   # contracting path + bottleneck
        expected += conv_params(3, cin, f) + conv_params(3, f, f)
        cin = f
    for f in reversed(widths[:-1]):                    # expanding path
        expected += conv_params(2, 2 * f, f)           # 2x2 up-convolution
        expected += conv_params(3, 2 * f, f) + conv_params(3, f, f)
    expected += conv_params(1, 64, 2)
    assert model.count_params() == expected
    assert abs(expected - 31.0e6) / 31.0e6 < 0.02
    with_bn = unet(num_classes=2)
    assert abs(with_bn.count_params() - 31.0e6) / 31.0e6 < 0.02


@pytest.mark.slow
def test_segnet_has_the_papers_29_5m_parameters_and_segnet_basic_its_formula():
    assert abs(segnet(num_classes=11).count_params() - 29.5e6) / 29.5e6 < 0.02
    for n in (2, 11):
        # 7x7x3x64 + 7 more 7x7x64x64 convs (no bias) + 8 BN x 4 x 64 + 1x1 classifier.
        expected = 7 * 7 * 3 * 64 + 7 * 7 * 7 * 64 * 64 + 8 * 4 * 64 + 64 * n + n
        assert segnet_basic(num_classes=n).count_params() == expected == 1_416_384 + 65 * n


def numpy_window_argmax_mask(x, size=2):
    """1 where ``x`` holds its ``size x size`` window's first maximum ("same" padding)."""
    b, h, w, c = x.shape
    padded = np.full((b, -(-h // size) * size, -(-w // size) * size, c), -np.inf, x.dtype)
    padded[:, :h, :w] = x
    mask = np.zeros(padded.shape, bool)
    for y0 in range(0, padded.shape[1], size):
        for x0 in range(0, padded.shape[2], size):
            window = padded[:, y0:y0 + size, x0:x0 + size].reshape(b, -1, c)
            first = window.argmax(axis=1)  # first maximum in row-major order
            for bi in range(b):
                for ci in range(c):
                    dy, dx = divmod(first[bi, ci], size)
                    mask[bi, y0 + dy, x0 + dx, ci] = True
    return mask[:, :h, :w]


def test_segnet_decoder_puts_values_at_the_encoders_argmax_positions():
    keras.utils.set_random_seed(3)
    model = segnet_basic(num_classes=3, filters=4, kernel_size=3, stages=2)
    probe = keras.Model(
        model.input,
        [
            model.get_layer("encoder_block1_conv_relu").output,  # what pool 1 saw
            model.get_layer("decoder_block2_conv_bn").output,    # what unpool 1 receives
            model.get_layer("decoder_block1_unpool").output,
        ],
    )
    images = np.random.default_rng(0).uniform(0, 255, (2, 18, 22, 3)).astype("float32")
    pre_pool, values, unpooled = (keras.ops.convert_to_numpy(t) for t in probe(images))
    assert unpooled.shape == pre_pool.shape == (2, 18, 22, 4)

    argmax = numpy_window_argmax_mask(pre_pool)
    assert (unpooled[~argmax] == 0).all(), "values outside argmax positions"
    # Each window's value lands at its argmax and nowhere else: not an upsample.
    expected = np.where(argmax, np.repeat(np.repeat(values, 2, 1), 2, 2)[:, :18, :22], 0)
    np.testing.assert_array_equal(unpooled, expected)
    nonzero_per_window = (unpooled != 0).reshape(2, 9, 2, 11, 2, 4).sum(axis=(2, 4))
    assert nonzero_per_window.max() == 1 and nonzero_per_window.mean() > 0.9

    # Odd intermediate sizes (9 x 11 -> 5 x 6) round-trip through stage 2 too.
    assert model.get_layer("decoder_block2_unpool").output.shape[1:] == (None, None, 4)
    assert probe(images[:, :17, :21])[2].shape == (2, 17, 21, 4)


def test_fcn_upsampling_starts_bilinear_and_skip_scorers_start_at_zero():
    model = fcn8s(num_classes=2, fc_channels=8)
    for name, size in (("upscore2", 4), ("upscore_pool4", 4), ("upscore8", 16)):
        kernel = keras.ops.convert_to_numpy(model.get_layer(name).kernel)
        np.testing.assert_allclose(kernel[:, :, 0, 0], bilinear_filter(size), atol=1e-6)
        np.testing.assert_array_equal(kernel[:, :, 0, 1], 0)
        assert model.get_layer(name).trainable
    for name in ("score_pool4", "score_pool3"):
        assert not keras.ops.convert_to_numpy(model.get_layer(name).kernel).any()
    assert fcn16s(num_classes=2, fc_channels=8).get_layer("upscore16").kernel_size == (32, 32)
    assert fcn32s(num_classes=2, fc_channels=8).get_layer("upscore32").strides == (32, 32)


@pytest.mark.parametrize("shape", [(20, 28, 3), (33, 47, 3)])
def test_fcn_takes_sizes_below_and_off_multiples_of_32(shape):
    model = fcn8s(num_classes=2, input_shape=shape, fc_channels=8)
    assert model.output_shape == (None, *shape[:2], 2)
    out = model(np.full((1, *shape), 128.0, "float32"))
    assert out.shape == (1, *shape[:2], 2)


def test_unet_bilinear_variant_and_any_size():
    model = unet(num_classes=4, base_filters=4, depth=2, upsampling="bilinear")
    assert "decoder_block1_upsample" in [layer.name for layer in model.layers]
    assert model(np.zeros((1, 37, 53, 3), "float32")).shape == (1, 37, 53, 4)


@pytest.mark.parametrize("builder, kwargs", [
    (unet, dict(base_filters=4, depth=2)),
    (segnet_basic, dict(filters=4, kernel_size=3)),
    (segnet, dict(base_filters=4)),
    (fcn32s, dict(fc_channels=8)),
])
def test_grayscale_and_multispectral_inputs(builder, kwargs):
    for channels in (1, 5):
        model = builder(num_classes=2, input_shape=(None, None, channels), **kwargs)
        assert model(np.zeros((1, 32, 40, channels), "float32")).shape == (1, 32, 40, 2)


def test_mixed_precision_keeps_float32_logits():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = unet(num_classes=3, base_filters=4, depth=2)
        segnet_model = segnet_basic(num_classes=3, filters=4, kernel_size=3)
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.get_layer("encoder_block1_conv1").compute_dtype == "bfloat16"
    for m in (model, segnet_model):
        assert m(np.zeros((1, 32, 32, 3), "float32")).dtype == "float32"


@pytest.mark.parametrize("builder, kwargs, match", [
    (unet, dict(upsampling="nearest"), "upsampling"),
    (unet, dict(depth=0), "depth"),
    (unet, dict(base_filters=0), "base_filters"),
    (unet, dict(dropout=1.0), "dropout"),
    (unet, dict(batch_norm="yes"), "batch_norm"),
    (fcn8s, dict(fc_channels=0), "fc_channels"),
    (fcn8s, dict(dropout=-0.1), "dropout"),
    (segnet_basic, dict(filters=0), "filters"),
    (segnet_basic, dict(stages=0), "stages"),
    (segnet, dict(base_filters=16, weights="imagenet"), "base_filters=64"),
    (segnet, dict(weights=3), "weights"),
    (segnet, dict(weights="imagenet", input_shape=(None, None, 1)), "3-channel"),
    (fcn8s, dict(num_classes=0), "num_classes"),
])
def test_bad_arguments_raise_clear_errors(builder, kwargs, match):
    kwargs = {"num_classes": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        builder(**kwargs)


def test_missing_weights_file_is_reported():
    with pytest.raises(FileNotFoundError, match="no_such.h5"):
        segnet(num_classes=3, base_filters=64, weights="/nonexistent/no_such.h5")
    with pytest.raises(FileNotFoundError, match="no_such.h5"):
        fcn8s(num_classes=3, fc_channels=8, weights="/nonexistent/no_such.h5")


@pytest.mark.slow
def test_vgg16_weights_file_loads_into_fcn_and_segnet_encoders(tmp_path):
    keras.utils.set_random_seed(0)
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    path = str(tmp_path / "vgg16_notop.weights.h5")
    reference.save_weights(path)

    model = fcn8s(num_classes=3, fc_channels=8, weights=path)
    # Same normalisation and layout: FCN's pool5 equals keras.applications'
    # VGG16 on caffe-preprocessed input.
    images = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    encoder = keras.Model(model.input, model.get_layer("block5_pool").output)
    expected = reference(keras.applications.vgg16.preprocess_input(images.copy()))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(encoder(images)), keras.ops.convert_to_numpy(expected), rtol=1e-4, atol=1e-3
    )

    seg = segnet(num_classes=3, weights=path)
    for name in ("block1_conv1", "block3_conv2", "block5_conv3"):
        for got, want in zip(seg.get_layer(name).get_weights(), reference.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)
