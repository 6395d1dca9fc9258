import numpy as np
import pytest

from kseg import export


def test_class_agreement_and_max_abs_diff():
    a = np.array([[0, 1], [2, 2]])
    b = np.array([[0, 1], [1, 2]])
    assert export.class_agreement(a, b) == 75.0
    assert export.max_abs_diff([1.0, -2.0], [1.5, 1.0]) == 3.0
    with pytest.raises(ValueError, match="shapes differ"):
        export.class_agreement(a, b[:1])


def test_mean_iou_hand_computed():
    target = np.array([0, 0, 1, 1, 255])
    pred = np.array([0, 1, 1, 1, 0])
    # class 0: tp 1, union 2 -> 0.5; class 1: tp 2, union 3 -> 2/3; pixel 4 ignored.
    assert export.mean_iou(pred, target, 3) == pytest.approx((0.5 + 2 / 3) / 2)


def test_format_report():
    rows = [{"quantize": "int8", "num_threads": 2, "size_mb": 1.5, "latency_ms": 3.25,
             "max_abs_logit_diff": 0.1, "class_agreement_pct": 99.5, "miou_keras": 0.8,
             "miou_tflite": 0.79, "miou_drop": 0.01}]
    text = export.format_report(rows, title="t")
    assert "| int8 | 2 | 1.500 | 3.25 | 0.1 | 99.500 | 0.8000 | 0.7900 | +0.0100 |" in text
