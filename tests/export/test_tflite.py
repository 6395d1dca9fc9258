import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import toy_models
from kseg import export


@pytest.fixture(scope="module")
def trained():
    return toy_models.trained_encoder_decoder()


def _images(n=4, seed=5):
    return toy_models.colour_data(n, seed=seed)


@pytest.mark.parametrize(
    "quantize, min_agreement, max_logit_diff",
    [("none", 99.9, 1e-4), ("fp16", 99.5, 0.05), ("dynamic", 99.0, 0.5), ("int8", 97.0, 2.0)],
)
def test_quantized_parity_on_trained_model(trained, tmp_path, quantize, min_agreement, max_logit_diff):
    images, masks = _images()
    path = export.export_tflite(
        trained, tmp_path / f"m_{quantize}.tflite", input_size=(32, 32), quantize=quantize,
        include_scores=True, representative_data=toy_models.colour_data(32, seed=9)[0],
    )
    ops = export.tflite_ops(path)
    assert not [op for op in ops if op.startswith("CUSTOM")], ops
    report = export.tflite_parity(trained, path, images, num_threads=2, masks=masks)
    assert report["class_agreement_pct"] >= min_agreement, report
    assert report["max_abs_logit_diff"] <= max_logit_diff, report
    assert report["miou_keras"] > 0.5  # the model did learn the task
    assert abs(report["miou_drop"]) < 0.03, report
    if quantize == "int8":
        assert "QUANTIZE" in ops


def test_fp32_fixed_size_keras_bilinear_and_labels(tmp_path):
    model = toy_models.encoder_decoder(input_shape=(32, 32, 3))  # keras UpSampling2D bilinear
    path = export.export_tflite(model, tmp_path / "fixed.tflite", class_names=["a", "b", "c"])
    assert export.read_labels(tmp_path / "fixed.labels.txt") == ["a", "b", "c"]
    ops = export.tflite_ops(path)
    assert {"CONV_2D", "TRANSPOSE_CONV", "RESIZE_BILINEAR", "MAX_POOL_2D", "ARG_MAX"} <= set(ops), ops
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    assert runner.get_input_details()["images"]["dtype"] == np.uint8
    images = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    out = runner(images=images)
    assert set(out) == {"classes", "scores"} and out["classes"].dtype == np.int32 and out["classes"].shape == (1, 32, 32)
    logits = model(images.astype("float32")).numpy()
    np.testing.assert_array_equal(out["classes"], logits.argmax(-1))
    np.testing.assert_allclose(out["scores"], logits, atol=1e-4)
    # scores last: MediaPipe's ImageSegmenter reads the last output as per-class confidences
    assert [d["shape"].tolist() for d in Interpreter(model_path=str(path)).get_output_details()] == [[1, 32, 32], [1, 32, 32, 3]]


def test_export_size_differs_from_model_size(tmp_path):
    # A model fixed at 24x32 exported for a 48x40 camera frame resizes inside.
    model = toy_models.fixed_size()
    path = export.export_tflite(model, tmp_path / "f.tflite", input_size=(48, 40), include_scores=True)
    images = np.random.default_rng(1).integers(0, 256, (2, 48, 40, 3), dtype=np.uint8)
    report = export.tflite_parity(model, path, images)
    assert report["class_agreement_pct"] >= 99.9 and report["max_abs_logit_diff"] < 1e-4


def test_odd_size_on_dynamic_model_resizes_to_divisor(tmp_path):
    model = toy_models.encoder_decoder()
    path = export.export_tflite(model, tmp_path / "odd.tflite", input_size=(30, 42), include_scores=True)
    images = np.random.default_rng(2).integers(0, 256, (1, 30, 42, 3), dtype=np.uint8)
    report = export.tflite_parity(model, path, images)
    assert report["class_agreement_pct"] >= 99.9
    resized = tf.image.resize(images.astype(np.float32), (32, 44))
    expected = tf.image.resize(model(resized, training=False), (30, 42)).numpy()
    np.testing.assert_allclose(export.reference_logits(model, images), expected, atol=1e-5)


class _FlexOnly(keras.layers.Layer):
    def call(self, x):
        pooled, _ = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID")
        return tf.image.resize(pooled, tf.shape(x)[1:3])


def test_non_builtin_op_fails_loudly(tmp_path):
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(_FlexOnly()(inputs)))
    with pytest.raises(ValueError, match="builtin ops only"):
        export.export_tflite(model, tmp_path / "flex.tflite")
    assert os.listdir(tmp_path) == []


def test_bad_arguments(tmp_path):
    model = toy_models.encoder_decoder()
    with pytest.raises(ValueError, match="end with '.tflite'"):
        export.export_tflite(model, tmp_path / "m.bin", input_size=(32, 32))
    with pytest.raises(ValueError, match="quantize must be one of"):
        export.export_tflite(model, tmp_path / "m.tflite", input_size=(32, 32), quantize="int4")
    with pytest.raises(ValueError, match="needs representative_data"):
        export.export_tflite(model, tmp_path / "m.tflite", input_size=(32, 32), quantize="int8")
    with pytest.raises(ValueError, match="input_size=\\(H, W\\) is required"):
        export.export_tflite(model, tmp_path / "m.tflite")
    with pytest.raises(ValueError, match="input_size must be"):
        export.export_tflite(model, tmp_path / "m.tflite", input_size=(32, 0))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export.export_tflite(model, tmp_path / "missing" / "m.tflite", input_size=(32, 32))
    with pytest.raises(ValueError, match="0..255"):
        export.export_tflite(model, tmp_path / "m.tflite", input_size=(32, 32), quantize="int8",
                             representative_data=np.random.rand(2, 32, 32, 3) * 1000)
    assert os.listdir(tmp_path) == []


def test_representative_images_accepts_pipeline_batches():
    from kseg.export.tflite import representative_images

    images, masks = toy_models.colour_data(5, size=16)
    dataset = tf.data.Dataset.from_tensor_slices((images.astype(np.float32), masks)).batch(2)
    out = representative_images(dataset, (32, 32), 3, limit=4)
    assert len(out) == 4 and all(x.shape == (1, 32, 32, 3) and x.dtype == np.uint8 for x in out)
    np.testing.assert_array_equal(out[0][0], np.round(tf.image.resize(images[0].astype("float32"), (32, 32))).astype(np.uint8))
