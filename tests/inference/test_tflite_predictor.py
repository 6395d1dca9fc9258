"""The .tflite predictor: the Keras model's classes (fp32 and int8), fixed size, load_predictor, labels."""

import builtins

import keras
import numpy as np
import pytest

from kseg.export import export_tflite
from kseg.inference import TFLitePredictor, keras_predictor, load_predictor, tflite_predictor

SIZE = 32


def _colour_data(n, seed):
    """Smooth colour blobs; the class is the brightest channel (0, 1, 2)."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (n, SIZE // 8, SIZE // 8, 3))
    images = np.clip(np.repeat(np.repeat(low, 8, 1), 8, 2) + rng.normal(0, 8, (n, SIZE, SIZE, 3)), 0, 255)
    images = images.astype(np.uint8)
    return images, images.astype(np.int32).argmax(-1)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A briefly trained conv/BN/pool/upsample model and its fp32 and int8 .tflite at 32x32."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.UpSampling2D(2)(x)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(x))
    images, masks = _colour_data(32, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images.astype(np.float32), masks, batch_size=16, epochs=15, verbose=0)
    root = tmp_path_factory.mktemp("tflite")
    fp32 = export_tflite(model, root / "fp32.tflite", input_size=(SIZE, SIZE), include_scores=True,
                         class_names=["red", "green", "blue"])
    int8 = export_tflite(model, root / "int8.tflite", input_size=(SIZE, SIZE), quantize="int8",
                         representative_data=images)
    return model, fp32, int8


def test_fp32_and_int8_give_the_keras_classes_and_fp32_the_keras_logits(files):
    model, fp32, int8 = files
    images, _ = _colour_data(4, seed=1)
    reference = keras_predictor(model).classes(images)
    predictor = load_predictor(fp32)
    assert isinstance(predictor, TFLitePredictor) and predictor.source == "tflite"
    assert (predictor.input_size, predictor.num_classes, predictor.class_names) == ((SIZE, SIZE), 3,
                                                                                   ["red", "green", "blue"])
    classes = predictor.classes(images)
    assert classes.dtype == np.int32 and classes.shape == (4, SIZE, SIZE)
    assert np.mean(classes == reference) >= 0.999
    logits = keras.ops.convert_to_numpy(model(images.astype(np.float32), training=False))
    np.testing.assert_allclose(predictor.outputs(images)["scores"], logits, atol=1e-3)
    quantized = tflite_predictor(int8, num_threads=2)
    assert quantized.num_classes == 3  # no scores output: from the labels export_tflite writes beside it
    assert np.mean(quantized.classes(images) == reference) >= 0.95
    # One image without a batch axis is a batch of one.
    np.testing.assert_array_equal(predictor.classes(images[0]), classes[:1])


def test_another_image_size_and_bad_input_are_clear_errors(files, tmp_path):
    _, fp32, _ = files
    predictor = tflite_predictor(fp32)
    with pytest.raises(ValueError, match=r"images are 48x32x3 but .*fp32.tflite was exported for 32x32x3"):
        predictor.classes(np.zeros((1, 48, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        predictor.classes(np.zeros((1, SIZE, SIZE, 3), np.float32))
    with pytest.raises(FileNotFoundError, match="absent.tflite"):
        tflite_predictor(tmp_path / "absent.tflite")
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(ValueError, match="junk.tflite"):
        load_predictor(tmp_path / "junk.tflite")
    with pytest.raises(ValueError, match="--tta applies to .keras"):
        load_predictor(fp32, tta="flip")


def test_without_ai_edge_litert_tf_lite_runs_it_and_says_so(files, monkeypatch):
    model, fp32, _ = files
    real_import = builtins.__import__

    def no_litert(name, *args, **kwargs):
        if name.startswith("ai_edge_litert"):
            raise ImportError("No module named 'ai_edge_litert'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_litert)
    images, _ = _colour_data(2, seed=2)
    with pytest.warns(RuntimeWarning, match="ai-edge-litert is not installed"):
        predictor = tflite_predictor(fp32)
    np.testing.assert_array_equal(predictor.classes(images), tflite_predictor(fp32).classes(images))
