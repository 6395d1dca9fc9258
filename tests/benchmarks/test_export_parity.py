"""The export parity benchmark (benchmarks/export_parity.py): a tiny real run
and the table/flagging logic on hand-made rows."""

import numpy as np
import pytest

import kseg.models
from kseg.data.synthetic import synthetic_arrays
from benchmarks import _common as C
from benchmarks import export_parity as E


def test_every_registered_model_has_a_config_and_bad_names_fail():
    assert E.check_models(None) == kseg.models.available()
    with pytest.raises(ValueError, match="unknown models.*unet"):
        E.check_models(["unet", "fcn4s"])
    with pytest.raises(ValueError, match="unknown quantizations"):
        E.check_quantizations(["none", "int4"])
    with pytest.raises(ValueError, match="size must be an int in 32..512"):
        E.run(models=["unet"], size=16)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        E.run(models=["unet"], steps=0)


def test_cli_rejects_unknown_model_before_any_work(capsys):
    with pytest.raises(SystemExit):
        E.main(["--models", "unet,fcn4s", "--no-append"])
    assert "fcn4s" in capsys.readouterr().err


def _row(model, fmt, agreement, error=None):
    if error:
        return {"model": model, "format": fmt, "error": error}
    return {"model": model, "format": fmt, "error": None, "size_mb": 1.0, "latency_ms": {1: 2.0, 2: 1.5},
            "max_abs_logit_diff": 0.01, "class_agreement_pct": agreement,
            "below_target": agreement < E.TARGETS[fmt], "miou_keras": 0.5, "miou_export": 0.49, "miou_drop": 0.01}


def test_summary_flags_rows_below_target_and_failures():
    rows = [_row("a", "none", 99.95), _row("a", "int8", 96.9), _row("b", "none", 99.89), _row("b", "int8", 98.0),
            _row("b", "fp16", 0, error="ValueError: conversion | failed"), _row("c", "training", 0, error="OOM")]
    summary = E.summarize(rows)
    assert summary["worst"] == {"none": (99.89, "b"), "int8": (96.9, "a")}
    assert summary["below"] == [("a", "int8", 96.9), ("b", "none", 99.89)]
    assert summary["failures"] == [("b", "fp16", "ValueError: conversion | failed"), ("c", "training", "OOM")]
    assert "**Failures**: b fp16: ValueError" in "\n".join(E._summary_lines(summary))
    assert E.target_check("none", 99.9) == "ok" and E.target_check("fp16", 99.49).startswith("**BELOW**")
    cells = [E._row_cells(row) for row in rows]
    assert all(len(c) == len(E.COLUMNS) for c in cells)
    assert cells[1][7] == "**BELOW** (target >= 97.0)" and cells[0][7] == "ok"
    assert cells[4][2] == "FAILED" and "conversion \\| failed" in cells[4][7]  # the pipe cannot split the cell


def _miou_by_hand(predicted, target, num_classes):
    """Mean IoU over classes in truth or prediction, counted with np.bincount (independent of kseg.metrics)."""
    cm = np.bincount(target.ravel() * num_classes + predicted.ravel(), minlength=num_classes**2)
    cm = cm.reshape(num_classes, num_classes)
    union = cm.sum(0) + cm.sum(1) - np.diag(cm)
    return float(np.mean(np.diag(cm)[union > 0] / union[union > 0]))


@pytest.mark.slow
def test_tiny_run_reports_every_format_and_fp32_matches_keras(tmp_path, monkeypatch):
    results_before = C.RESULTS.read_text() if C.RESULTS.exists() else None
    trained = []
    real_train = E.train
    monkeypatch.setattr(E, "train", lambda *a, **k: trained.append(real_train(*a, **k)) or trained[-1])
    text, result = E.run(quick=True, models=["unet"], size=32, steps=2, quantizations=["none", "int8"],
                         workdir=tmp_path, log=lambda *args: None)
    rows = result["rows"]
    assert [(r["model"], r["format"]) for r in rows] == [
        ("unet", "savedmodel"), ("unet", "none"), ("unet", "int8"), ("unet", "onnx")]
    assert all(r["error"] is None for r in rows), [r["error"] for r in rows]
    saved, fp32, int8, onnx = rows
    assert saved["class_agreement_pct"] >= 99.9 and saved["max_abs_probability_diff"] < 1e-4
    assert fp32["class_agreement_pct"] >= 99.9 and fp32["max_abs_logit_diff"] < 1e-3
    assert abs(fp32["miou_drop"]) < 1e-3
    # int8 files are about 4x smaller than fp32 ones.
    assert int8["size_mb"] < 0.5 * fp32["size_mb"]
    assert onnx["class_agreement_pct"] == 100.0 and onnx["max_abs_logit_diff"] < 1e-3 and abs(onnx["miou_drop"]) < 1e-3
    assert 0.5 * fp32["size_mb"] < onnx["size_mb"] < 2 * fp32["size_mb"]  # both hold the fp32 weights
    for row in (fp32, int8, onnx):
        assert set(row["latency_ms"]) == {1, 2} and all(ms > 0 for ms in row["latency_ms"].values())
        assert row["below_target"] == (row["class_agreement_pct"] < E.TARGETS[row["format"]])
    # The reported scores, recomputed from the trained model and the data the benchmark used.
    model, train_x, train_y, facts = trained[0]
    predicted = np.argmax(model.predict(train_x.astype(np.float32), verbose=0), -1)
    assert fp32["train_pixel_accuracy"] == pytest.approx(100 * np.mean(predicted == train_y))
    assert fp32["train_miou"] == pytest.approx(_miou_by_hand(predicted, train_y, E.NUM_CLASSES))
    val_x, val_y = synthetic_arrays(E.QUICK["val_images"], image_size=(32, 32), num_classes=E.NUM_CLASSES,
                                    seed=0, split_index=1)
    val_predicted = np.argmax(model.predict(val_x.astype(np.float32), verbose=0), -1)
    for row in rows:
        assert row["miou_keras"] == pytest.approx(_miou_by_hand(val_predicted, val_y, E.NUM_CLASSES), abs=1e-3)
    assert fp32["miou_export"] == pytest.approx(fp32["miou_keras"] - fp32["miou_drop"])
    assert fp32["val_median_margin"] >= 0 and "median top-2 logit margin on val" in text
    lines = text.splitlines()
    header = "| " + " | ".join(E.COLUMNS) + " |"
    table = lines[lines.index(header):]
    assert len(table[0].split(" | ")) == len(table[2].split(" | ")) == len(E.COLUMNS)
    assert [line.split(" | ")[1] for line in table[2:6]] == ["SavedModel", "fp32", "int8", "ONNX fp32"]
    assert "--quick means steps=" in text and "Worst class agreement per format" in text
    assert list(tmp_path.iterdir()) == []  # exports live in a removed temporary directory
    assert (C.RESULTS.read_text() if C.RESULTS.exists() else None) == results_before  # run() never appends
