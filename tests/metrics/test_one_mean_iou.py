"""kseg.export.mean_iou is the kseg.metrics score: same values, absent classes included."""

import numpy as np
import pytest

from kseg import export
from kseg.metrics import MeanIoU, confusion_matrix, report_from_confusion


def test_absent_classes_do_not_count_and_match_the_training_metric():
    # Class 2 is absent from truth and prediction: it is left out, not counted as 0 IoU.
    target = np.array([[0, 0, 1, 1], [1, 255, 3, 3]])
    pred = np.array([[0, 1, 1, 1], [1, 0, 3, 0]])
    # class 0: tp 1, union 3 -> 1/3; class 1: tp 3, union 4 -> 3/4; class 3: tp 1, union 2 -> 1/2.
    expected = (1 / 3 + 3 / 4 + 1 / 2) / 3
    assert export.mean_iou(pred, target, 4) == pytest.approx(expected)
    assert report_from_confusion(confusion_matrix(target, pred, 4))["miou"] == pytest.approx(expected)
    metric = MeanIoU(4)
    metric.update_state(target[None], pred[None])
    assert float(metric.result()) == pytest.approx(expected)


def test_no_counted_pixel_gives_zero_like_the_metric_not_nan():
    target = np.full((2, 2), 255)
    assert export.mean_iou(np.zeros((2, 2), int), target, 3) == 0.0


def test_a_class_only_predicted_counts_with_iou_zero():
    target, pred = np.array([0, 0]), np.array([0, 2])
    # class 0: 1/2; class 2: predicted, never true -> 0; class 1 absent.
    assert export.mean_iou(pred, target, 3) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="differ in shape"):
        export.mean_iou(pred, target[:1], 3)
