"""Every registered model exports both ways, builtin ops only, same answers."""

import numpy as np
import pytest
import tensorflow as tf

import kseg.models
from kseg import export

SIZE = 64


@pytest.mark.slow
@pytest.mark.parametrize("name", kseg.models.available())
def test_model_exports_saved_model_and_builtin_tflite(name, tmp_path):
    model = kseg.models.build(name, num_classes=3, input_shape=(None, None, 3))
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
    assert not [op for op in ops if op.startswith("CUSTOM")], ops
    report = export.tflite_parity(model, tflite, images)
    assert report["class_agreement_pct"] >= 99.9, report
    assert report["max_abs_logit_diff"] < 1e-3, report
