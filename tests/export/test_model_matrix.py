"""Every registered model exports all three ways (SavedModel, builtin-only TFLite, ONNX), same answers.

One small model per architecture (``kseg.models.small.SMALL_CONFIGS``: few channels,
same layers, so the same set of TFLite / ONNX operators) is built once and exported
three times.
"""

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

import kseg.models
from kseg import export
from kseg.models.small import SMALL_CONFIGS

SIZE = 64
HAS_ONNX = all(importlib.util.find_spec(name) for name in ("tf2onnx", "onnx", "onnxruntime"))


@pytest.mark.slow
@pytest.mark.parametrize("name", kseg.models.available())
def test_model_exports_saved_model_builtin_tflite_and_onnx(name, tmp_path):
    keras.utils.set_random_seed(0)
    model = kseg.models.build(name, num_classes=3, input_shape=(None, None, 3), **SMALL_CONFIGS[name])
    images = np.random.default_rng(0).integers(0, 256, (1, SIZE, SIZE, 3), dtype=np.uint8)

    path = export.export_saved_model(model, tmp_path / "sm", name, warmup=False)
    parity = export.saved_model_parity(model, path, images)
    assert parity["class_agreement_pct"] >= 99.9, parity
    assert parity["max_abs_probability_diff"] < 1e-4, parity
    loaded = tf.saved_model.load(path)
    odd = loaded.signatures["serving_default"](images=tf.constant(images[:, : SIZE - 3, : SIZE - 5]))
    assert odd["classes"].shape == (1, SIZE - 3, SIZE - 5)

    tflite = export.export_tflite(model, tmp_path / f"{name}.tflite", input_size=(SIZE, SIZE), include_scores=True)
    ops = export.tflite_ops(tflite)
    assert not [op for op in ops if op.startswith(("CUSTOM", "Flex"))], ops
    report = export.tflite_parity(model, tflite, images, min_runs=1)
    assert report["class_agreement_pct"] >= 99.9, report
    assert report["max_abs_logit_diff"] < 1e-3, report

    if not HAS_ONNX:
        pytest.skip('SavedModel and TFLite checked; ONNX needs the onnx extra: pip install "kseg[onnx]"')
    onnx_path = export.export_onnx(model, tmp_path / f"{name}.onnx", input_size=(SIZE, SIZE), include_scores=True)
    report = export.onnx_parity(model, onnx_path, np.concatenate([images, images[:, ::-1]]), min_runs=1)
    assert report["class_agreement_pct"] == 100.0, report
    assert report["max_abs_logit_diff"] < 1e-4, report
    assert not [op for op in export.onnx_ops(onnx_path) if ":" in op]  # standard ONNX domain only
