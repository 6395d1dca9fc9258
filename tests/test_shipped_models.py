"""The shipped CamVid models: complete packages, artefacts that agree, and the reports' numbers."""

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from kseg.data.camvid import CAMVID_CLASS_NAMES, camvid
from kseg.models import list_presets, preset_info

REPO = Path(__file__).resolve().parents[1]
# version directory -> its report (Markdown + the report.json beside its figures), read from the presets:
# shipping the next version is one edit (its preset), not one per test and benchmark.
SHIPPED = {Path(info["saved_model"]).relative_to(REPO).as_posix(): info["report"]
           for info in map(preset_info, list_presets())}
# Least class agreement of each .tflite with the SavedModel on 3 test images: as measured when
# shipped, rounded down (the reports give the numbers). DABNet's full-integer file (version 6, ReLU) is
# exported with its unfoldable batch norms and the input injection lowered for int8
# (reports/camvid_dabnet.md: 98.25% agreement with fp32 and -0.37 mIoU on the whole test split; on these
# 3 images 98.8%, and 99.8% for the dynamic-range file).
MIN_AGREEMENT = {
    "camvid_unet": {"model_fp32.tflite": 0.999, "model_int8.tflite": 0.95},
    "camvid_dabnet": {"model_fp32.tflite": 0.999, "model_int8.tflite": 0.98, "model_dynamic.tflite": 0.99},
}
PACKAGES = pytest.mark.parametrize(
    "version_dir,report", [pytest.param(v, r, id=v.split("/")[1]) for v, r in SHIPPED.items()])


@functools.cache
def _test_images_and_classes(version_dir, camvid_root):
    """3 CamVid test images and the shipped SavedModel's classes on them (shared by the agreement tests)."""
    from kseg.inference import load_predictor

    images = np.stack([np.asarray(image) for image, _ in camvid(camvid_root, "test").dataset.take(3)])
    return images, load_predictor(str(REPO / version_dir)).classes(images)


def _report_json(report):
    return REPO / report.replace(".md", "_figures") / "report.json"


@PACKAGES
def test_camvid_package_is_complete_and_deployable(version_dir, report):
    from kseg.export import read_labels, tflite_ops

    shipped = REPO / version_dir
    files = {p.name for p in shipped.iterdir()}
    assert {"saved_model.pb", "variables", "assets.extra", "model_fp32.tflite", "model_int8.tflite", "preset"} <= files
    assert read_labels(shipped / "assets.extra" / "labels.txt") == list(CAMVID_CLASS_NAMES)
    saved_model_bytes = sum(p.stat().st_size for p in (shipped / "variables").iterdir()) + (
        shipped / "saved_model.pb").stat().st_size
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
    from kseg.inference import tflite_predictor

    shipped = REPO / version_dir
    images, reference = _test_images_and_classes(version_dir, camvid_root)
    minimum = MIN_AGREEMENT[shipped.parent.name]
    assert {p.name for p in shipped.glob("*.tflite")} == set(minimum)
    agreement = {name: float(np.mean(tflite_predictor(shipped / name, num_threads=2).classes(images) == reference))
                 for name in minimum}
    assert all(agreement[name] >= minimum[name] for name in minimum), agreement


@PACKAGES
def test_camvid_preset_gives_the_saved_model_classes(camvid_root, version_dir, report):
    """The .keras file a preset loads (wrapped as the preset says) predicts the shipped SavedModel's
    classes: >= 99.9% of the pixels of 3 test images."""
    from kseg.inference import keras_predictor
    from kseg.models import from_preset

    images, reference = _test_images_and_classes(version_dir, camvid_root)
    agreement = float(np.mean(keras_predictor(from_preset(REPO / version_dir / "preset")).classes(images) == reference))
    assert agreement >= 0.999, agreement


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
