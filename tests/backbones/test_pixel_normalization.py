import keras
import numpy as np
import pytest
from keras.applications import imagenet_utils

from kseg.backbones import PixelNormalization


def _pixels(channels=3):
    return np.random.default_rng(1).uniform(0, 255, (2, 5, 7, channels)).astype("float32")


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_matches_keras_applications(mode):
    x = _pixels()
    expected = imagenet_utils.preprocess_input(x.copy(), mode=mode, data_format="channels_last")
    np.testing.assert_allclose(np.asarray(PixelNormalization(mode)(x)), expected, rtol=1e-6, atol=1e-4)


def test_scale_none_and_grayscale():
    x = _pixels()
    np.testing.assert_allclose(np.asarray(PixelNormalization("scale")(x)), x / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(PixelNormalization("none")(x)), x)
    gray = _pixels(1)
    mean = np.mean([103.939, 116.779, 123.68])
    np.testing.assert_allclose(np.asarray(PixelNormalization("caffe")(gray)), gray - mean, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(PixelNormalization("tf")(gray)), gray / 127.5 - 1, atol=1e-6)
    torch = np.asarray(PixelNormalization("torch")(gray))
    np.testing.assert_allclose(torch, (gray / 255 - np.mean([0.485, 0.456, 0.406])) / np.mean([0.229, 0.224, 0.225]), atol=1e-5)


def test_config_round_trip_and_validation():
    layer = PixelNormalization("caffe", name="pre")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, PixelNormalization) and restored.mode == "caffe" and restored.name == "pre"
    assert layer.compute_output_shape((None, 8, 8, 3)) == (None, 8, 8, 3)
    with pytest.raises(ValueError, match="mode must be one of"):
        PixelNormalization("imagenet")


def test_model_with_layer_saves_and_loads(tmp_path):
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, PixelNormalization("caffe")(inputs))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = _pixels()
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)))
