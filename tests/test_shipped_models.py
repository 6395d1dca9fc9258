"""The shipped CamVid model: complete package, artefacts that agree, and the report's number."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from kseg.data.camvid import CAMVID_CLASS_NAMES, camvid

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "saved_models" / "camvid_unet" / "2"
REPORT_JSON = REPO / "reports" / "camvid_figures" / "report.json"
REPORT_MD = REPO / "reports" / "camvid.md"


def test_camvid_package_is_complete_and_deployable():
    from kseg.export import read_labels, tflite_ops

    files = {p.name for p in SHIPPED.iterdir()}
    assert {"saved_model.pb", "variables", "assets.extra", "model_fp32.tflite", "model_int8.tflite"} <= files
    assert read_labels(SHIPPED / "assets.extra" / "labels.txt") == list(CAMVID_CLASS_NAMES)
    saved_model_bytes = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file() and p.suffix != ".tflite")
    assert saved_model_bytes < 50e6
    for name in ("model_fp32.tflite", "model_int8.tflite"):
        ops = tflite_ops(str(SHIPPED / name))
        assert "CONV_2D" in ops and not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    # The report names this version and states the number the report.json holds.
    text = REPORT_MD.read_text()
    assert "saved_models/camvid_unet/2" in text
    miou = json.loads(REPORT_JSON.read_text())["miou"]
    assert f"| mIoU | **{100 * miou:.1f}** |" in text


def test_camvid_artefacts_agree_on_test_images(camvid_root):
    from kseg.inference import load_predictor, tflite_predictor

    images = np.stack([np.asarray(image) for image, _ in camvid(camvid_root, "test").dataset.take(3)])
    reference = load_predictor(str(SHIPPED)).classes(images)
    fp32 = np.mean(load_predictor(SHIPPED / "model_fp32.tflite").classes(images) == reference)
    int8 = np.mean(tflite_predictor(SHIPPED / "model_int8.tflite", num_threads=2).classes(images) == reference)
    assert fp32 >= 0.999 and int8 >= 0.95, (fp32, int8)


@pytest.mark.slow
def test_camvid_report_number_reproduces(camvid_root):
    """The README command's computation: the shipped SavedModel on the whole test split."""
    from kseg.inference import evaluate, load_predictor

    report = evaluate(load_predictor(str(SHIPPED)), camvid(camvid_root, "test"))
    stored = json.loads(REPORT_JSON.read_text())
    assert report["num_images"] == 233
    assert abs(report["miou"] - stored["miou"]) < 5e-4
    assert report["miou"] > 0.463  # SegNet-Basic's test mIoU on this split
    assert re.search(rf"\*\*{100 * report['miou']:.1f}\*\*", REPORT_MD.read_text())
