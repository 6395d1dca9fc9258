"""Every registered model exports both ways, builtin ops only, same answers."""

import inspect

import numpy as np
import pytest
import tensorflow as tf

import kseg.models
from kseg import export

SIZE = 64
# Width arguments shrunk so the matrix stays fast on CPU; the architecture
# (and so the set of TFLite operators) is unchanged.
SMALL = {
    "fc_channels": 64, "base_filters": 8, "filters": 8, "kernel_size": 3, "aspp_filters": 16,
    "low_level_filters": 8, "decoder_filters": 16, "pyramid_channels": 16, "segmentation_channels": 16,
    "groups": 4, "backbone": "mobilenet_v2",
}


def _small_model(name):
    builder = kseg.models.get_builder(name)
    params = inspect.signature(builder).parameters
    kwargs = {key: value for key, value in SMALL.items() if key in params}
    return kseg.models.build(name, num_classes=3, input_shape=(None, None, 3), **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("name", kseg.models.available())
def test_model_exports_saved_model_and_builtin_tflite(name, tmp_path):
    model = _small_model(name)
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
