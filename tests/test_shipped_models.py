"""The shipped CamVid models: complete packages, artefacts that agree, and the reports' numbers."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from kseg.data.camvid import CAMVID_CLASS_NAMES, camvid

REPO = Path(__file__).resolve().parents[1]
# version directory -> its report (Markdown + the report.json beside its figures)
SHIPPED = {
    "saved_models/camvid_unet/2": "reports/camvid.md",
    "saved_models/camvid_dabnet/5": "reports/camvid_dabnet.md",
}
# Least class agreement of each .tflite with the SavedModel on 3 test images: as measured when
# shipped, rounded down (the reports give the numbers). DABNet's full-integer file loses accuracy
# to post-training quantization (reports/camvid_dabnet.md); its dynamic-range file does not.
MIN_AGREEMENT = {
    "camvid_unet": {"model_fp32.tflite": 0.999, "model_int8.tflite": 0.95},
    "camvid_dabnet": {"model_fp32.tflite": 0.999, "model_int8.tflite": 0.77, "model_dynamic.tflite": 0.99},
}
PACKAGES = pytest.mark.parametrize(
    "version_dir,report", [pytest.param(v, r, id=v.split("/")[1]) for v, r in SHIPPED.items()])


def _report_json(report):
    return REPO / report.replace(".md", "_figures") / "report.json"


@PACKAGES
def test_camvid_package_is_complete_and_deployable(version_dir, report):
    from kseg.export import read_labels, tflite_ops

    shipped = REPO / version_dir
    files = {p.name for p in shipped.iterdir()}
    assert {"saved_model.pb", "variables", "assets.extra", "model_fp32.tflite", "model_int8.tflite"} <= files
    assert read_labels(shipped / "assets.extra" / "labels.txt") == list(CAMVID_CLASS_NAMES)
    saved_model_bytes = sum(p.stat().st_size for p in shipped.rglob("*") if p.is_file() and p.suffix != ".tflite")
    assert saved_model_bytes < 50e6
    for name in ("model_fp32.tflite", "model_int8.tflite"):
        ops = tflite_ops(str(shipped / name))
        assert "CONV_2D" in ops and not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    # The report names this version and states the number its report.json holds.
    text = (REPO / report).read_text()
    assert version_dir in text
    miou = json.loads(_report_json(report).read_text())["miou"]
    assert f"| mIoU | **{100 * miou:.1f}** |" in text


@PACKAGES
def test_camvid_artefacts_agree_on_test_images(camvid_root, version_dir, report):
    from kseg.inference import load_predictor, tflite_predictor

    shipped = REPO / version_dir
    images = np.stack([np.asarray(image) for image, _ in camvid(camvid_root, "test").dataset.take(3)])
    reference = load_predictor(str(shipped)).classes(images)
    minimum = MIN_AGREEMENT[shipped.parent.name]
    assert {p.name for p in shipped.glob("*.tflite")} == set(minimum)
    agreement = {name: float(np.mean(tflite_predictor(shipped / name, num_threads=2).classes(images) == reference))
                 for name in minimum}
    assert all(agreement[name] >= minimum[name] for name in minimum), agreement


@pytest.mark.slow
@PACKAGES
def test_camvid_report_number_reproduces(camvid_root, version_dir, report):
    """The README command's computation: the shipped SavedModel on the whole test split."""
    from kseg.inference import evaluate, load_predictor

    result = evaluate(load_predictor(str(REPO / version_dir)), camvid(camvid_root, "test"))
    stored = json.loads(_report_json(report).read_text())
    assert result["num_images"] == 233
    assert abs(result["miou"] - stored["miou"]) < 5e-4
    assert result["miou"] > 0.463  # SegNet-Basic's test mIoU on this split
    assert re.search(rf"\*\*{100 * result['miou']:.1f}\*\*", (REPO / report).read_text())
