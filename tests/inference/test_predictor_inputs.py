"""Predictors refuse images whose channel count is not the model's, for every
count, naming the input and both counts; predict_files keeps class ids > 255."""

import keras
import numpy as np
import pytest
from PIL import Image

from kseg.export import export_saved_model, export_tflite
from kseg.inference import keras_predictor, load_predictor, predict_files

# 32: exports of models whose graph cannot take tiny inputs enlarge them first (kseg.export._graph.MIN_INPUT_SIDE).
SIZE = 32


def _model(channels, num_classes=3, bias=None):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, channels), name="images")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    logits = keras.layers.Conv2D(num_classes, 1, name="logits")(x)
    model = keras.Model(inputs, logits)
    if bias is not None:  # a constant answer: zero kernel, one large bias
        kernel, _ = model.get_layer("logits").get_weights()
        model.get_layer("logits").set_weights([np.zeros_like(kernel), bias])
    return model


@pytest.fixture(scope="module")
def rgb_model():
    return _model(3)


@pytest.fixture(scope="module")
def predictors(rgb_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("predictors")
    rgb_model.save(root / "m.keras")
    saved = export_saved_model(rgb_model, root / "saved", "toy", max_image_size=64, warmup=False)
    export_tflite(rgb_model, root / "m.tflite", input_size=(SIZE, SIZE))
    return {"keras_predictor": keras_predictor(rgb_model),
            "load_predictor(.keras)": load_predictor(root / "m.keras"),
            "load_predictor(SavedModel)": load_predictor(saved),
            "load_predictor(.tflite)": load_predictor(root / "m.tflite")}


NAMES = ["keras_predictor", "load_predictor(.keras)", "load_predictor(SavedModel)",
         "load_predictor(.tflite)"]


@pytest.mark.parametrize("name", NAMES)
def test_right_channel_count_answers_like_the_model(predictors, rgb_model, name):
    images = np.random.default_rng(1).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    expected = np.argmax(rgb_model.predict(images.astype(np.float32), verbose=0), -1)
    predictor = predictors[name]
    assert predictor.channels == 3
    np.testing.assert_array_equal(predictor.classes(images), expected)
    np.testing.assert_array_equal(predictor.classes(images[0]), expected[:1])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 2, 4, 5, 6, 9])
def test_wrong_channel_count_is_refused(predictors, name, channels):
    # 6 and 9 would run through a 3-channel first convolution as groups.
    images = np.zeros((1, SIZE, SIZE, channels), np.uint8)
    with pytest.raises(ValueError, match=rf"^images: expected 3 channels, got {channels}\.$"):
        predictors[name].classes(images)


def test_one_channel_model_refuses_rgb_and_takes_grayscale():
    model = _model(1)
    predictor = keras_predictor(model)
    with pytest.raises(ValueError, match=r"^images: expected 1 channels, got 3\.$"):
        predictor.classes(np.zeros((1, SIZE, SIZE, 3), np.uint8))
    gray = np.arange(SIZE * SIZE, dtype=np.uint8).reshape(1, SIZE, SIZE, 1)
    np.testing.assert_array_equal(predictor.classes(gray),
                                  np.argmax(model.predict(gray.astype(np.float32), verbose=0), -1))


def test_predict_files_feeds_grayscale_to_a_one_channel_model(tmp_path):
    model = _model(1)
    gray = (np.arange(SIZE * SIZE) % 256).astype(np.uint8).reshape(SIZE, SIZE)
    Image.fromarray(np.stack([gray] * 3, -1)).save(tmp_path / "g.png")
    (written,) = predict_files(keras_predictor(model), [tmp_path / "g.png"], tmp_path / "out")
    expected = np.argmax(model.predict(gray[None, ..., None].astype(np.float32), verbose=0), -1)[0]
    np.testing.assert_array_equal(np.asarray(Image.open(written)), expected)


def test_predict_files_keeps_class_ids_above_255(tmp_path):
    # Class 299 of 300 everywhere: a uint8 cast would have written 43.
    bias = np.zeros(300, np.float32)
    bias[299] = 10.0
    model = _model(3, num_classes=300, bias=bias)
    Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(tmp_path / "x.png")
    (written,) = predict_files(keras_predictor(model), [tmp_path / "x.png"], tmp_path / "out")
    saved = np.asarray(Image.open(written))
    assert saved.dtype != np.uint8 and (saved == 299).all()
