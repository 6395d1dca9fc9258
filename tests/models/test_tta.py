"""with_tta: the mean of logits over flipped and rescaled views, as an exportable model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kseg.models import build, parse_tta, with_tta


@pytest.fixture(scope="module")
def net():
    keras.utils.set_random_seed(3)
    return build("unet", num_classes=4, input_shape=(None, None, 3), base_filters=4, depth=2)


def _image(h=32, w=48):
    return np.random.default_rng(1).uniform(0, 255, (2, h, w, 3)).astype("float32")


def test_flip_tta_is_the_mean_of_the_view_and_its_mirror(net):
    x = _image()
    direct = net(x).numpy()
    mirrored = net(x[:, :, ::-1]).numpy()[:, :, ::-1]
    assert np.abs(direct - mirrored).max() > 1e-3  # the network is not flip-invariant: the test can fail
    np.testing.assert_allclose(with_tta(net)(x).numpy(), (direct + mirrored) / 2, atol=1e-5)


def test_multi_scale_tta_resizes_back_to_the_input(net):
    x = _image()
    expected = []
    for scale in (0.5, 1.0):
        size = (round(32 * scale), round(48 * scale))
        view = tf.image.resize(x, size).numpy() if scale != 1.0 else x
        for out in (net(view).numpy(), net(view[:, :, ::-1]).numpy()[:, :, ::-1]):
            expected.append(tf.image.resize(out, (32, 48)).numpy() if scale != 1.0 else out)
    got = with_tta(net, scales=(0.5, 1.0))(x).numpy()
    assert got.shape == (2, 32, 48, 4)
    np.testing.assert_allclose(got, np.mean(expected, axis=0), atol=1e-4)
    no_flip = with_tta(net, flip=False, scales=(0.5, 1.0))(x).numpy()
    np.testing.assert_allclose(no_flip, (expected[0] + expected[2]) / 2, atol=1e-4)


def test_tta_saves_safe_mode_and_exports_builtin_tflite(net, tmp_path):
    from kseg.export import export_tflite
    from kseg.export.parity import tflite_parity

    model = with_tta(net, scales=(0.75, 1.0))
    path = str(tmp_path / "tta.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = _image()
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-5)
    tflite = str(tmp_path / "tta.tflite")
    export_tflite(loaded, tflite, input_size=(32, 48), include_scores=True)
    report = tflite_parity(loaded, tflite, x.astype(np.uint8), min_runs=1)
    assert report["class_agreement_pct"] == 100.0 and report["max_abs_logit_diff"] < 1e-3


def test_tta_arguments(net):
    assert with_tta(net, flip=False) is net
    for bad in ((), (0.0,), (1.0, 1.0), (5.0,)):
        with pytest.raises(ValueError, match="scales"):
            with_tta(net, scales=bad)


def test_parse_tta():
    assert parse_tta("flip") == dict(flip=True, scales=(1.0,))
    assert parse_tta("0.75, 1,1.25") == dict(flip=False, scales=(0.75, 1.0, 1.25))
    assert parse_tta("flip,0.5,1") == dict(flip=True, scales=(0.5, 1.0))
    for bad in ("", "mirror", "flip,flip", "flip,x"):
        with pytest.raises(ValueError, match="--tta must be"):
            parse_tta(bad)
