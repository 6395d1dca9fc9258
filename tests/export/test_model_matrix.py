"""Every registered model exports all three ways (SavedModel, builtin-only TFLite, any-size ONNX), same answers.

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
from kseg.serving import signatures as sig

SIZE = 64
# An even square, sizes of no common multiple, and smaller than any backbone's stride.
ODD_SIZES = ((100, 100), (97, 131), (7, 9))
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
    # Any-size ONNX: the Keras answer (through the exports' resize rules) at the input size, odd sizes included.
    onnx_path = export.export_onnx(model, tmp_path / f"{name}.onnx", include_scores=True)
    report = export.onnx_parity(model, onnx_path, np.concatenate([images, images[:, ::-1]]), min_runs=1)
    assert report["class_agreement_pct"] == 100.0, report
    assert report["max_abs_logit_diff"] < 1e-4, report
    assert not [op for op in export.onnx_ops(onnx_path) if ":" in op]  # standard ONNX domain only
    _assert_onnx_equals_keras_at_odd_sizes(model, onnx_path)


def _assert_onnx_equals_keras_at_odd_sizes(model, onnx_path):
    from kseg.export.onnx import onnx_session
    from kseg.layers import MaxPoolingWithArgmax2D

    session = onnx_session(onnx_path)
    # Max unpooling puts each value back where its window's maximum was. A window whose two
    # largest values differ by ~1e-7 (relative) may pick the other one under ONNX Runtime's
    # summation order: that moves one value by a pixel and changes a small patch after it
    # (SegNet at 100x100: 238 of 30,000 logits, from one near-tie in encoder_block3_pool).
    # Both answers are right to float precision; every other logit must still match.
    min_close = 0.99 if any(isinstance(layer, MaxPoolingWithArgmax2D) for layer in model.layers) else 1.0
    for height, width in ODD_SIZES:
        images = np.random.default_rng(height).integers(0, 256, (1, height, width, 3), dtype=np.uint8)
        classes, scores = session.run([sig.CLASSES, export.SCORES], {sig.IMAGES: images})
        logits = export.reference_logits(model, images)
        assert classes.shape == (1, height, width), (height, width, classes.shape)
        scale = float(np.abs(logits).max())
        diff = np.abs(scores - logits)
        close = diff <= 1e-4 * scale + 1e-6
        assert close.mean() >= min_close, (height, width, f"{close.mean():.2%} close", float(diff.max()), scale)
        assert export.class_agreement(logits.argmax(-1), classes) >= 99.9, (height, width)


@pytest.mark.skipif(not HAS_ONNX, reason='needs the onnx extra: pip install "kseg[onnx]"')
def test_any_size_onnx_of_a_model_that_pads_inside_answers_at_the_input_size(tmp_path):
    # U-Net pads to a multiple of 2**depth and crops back in its own graph; ONNX
    # once turned that padding into a crop (100x100 -> 96x96, 7x9 -> an ORT error).
    keras.utils.set_random_seed(0)
    model = kseg.models.build("unet", num_classes=2, input_shape=(None, None, 3), base_filters=4, depth=2)
    onnx_path = export.export_onnx(model, tmp_path / "unet.onnx", include_scores=True)
    _assert_onnx_equals_keras_at_odd_sizes(model, onnx_path)


@pytest.mark.parametrize("name, min_side", [("unet", 1), ("fcn8s", 1), ("dabnet", 1), ("deeplab_v3", 32), ("fpn", 32)])
def test_only_models_whose_graph_cannot_take_tiny_inputs_enlarge_them(name, min_side):
    # kseg's own encoders pad inside and take a 7x9 image as Keras does; a keras.applications
    # backbone's valid convolutions have no valid output under 32 px, so exports enlarge first.
    from kseg.export._graph import inspect_model

    model = kseg.models.build(name, num_classes=3, input_shape=(None, None, 3), **SMALL_CONFIGS[name])
    assert inspect_model(model).min_side == min_side
