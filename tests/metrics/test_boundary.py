"""Boundary IoU: band definition against a brute-force reference and hand-computed scores."""

import numpy as np
import pytest

from kseg import metrics
from kseg.metrics import BoundaryIoU, boundary_confusion_matrix, boundary_iou, boundary_mask


def _reference_band(y_true, width, ignore_id):
    """Pixel by pixel: valid and some valid neighbour in the clipped window has another class."""
    h, w = y_true.shape
    band = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            if y_true[i, j] == ignore_id:
                continue
            window = y_true[max(0, i - width): i + width + 1, max(0, j - width): j + width + 1]
            band[i, j] = np.any((window != ignore_id) & (window != y_true[i, j]))
    return band


def test_band_of_a_vertical_edge_has_the_requested_width():
    y = np.zeros((4, 8), np.int32)
    y[:, 4:] = 1
    np.testing.assert_array_equal(boundary_mask(y, width=1)[0], [0, 0, 0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(boundary_mask(y, width=2)[0], [0, 0, 1, 1, 1, 1, 0, 0])
    # Every row is the same: the band is a vertical strip.
    assert boundary_mask(y, width=2).sum() == 4 * 4


def test_ignore_pixels_are_neither_in_the_band_nor_another_class():
    y = np.array([[0, 0, 255, 1, 1]], np.int32)
    assert not boundary_mask(y, width=1).any()  # the void pixel separates the classes
    np.testing.assert_array_equal(boundary_mask(y, width=2)[0], [0, 1, 0, 1, 0])
    # Without an ignore id, 255 is a class like any other.
    np.testing.assert_array_equal(boundary_mask(y, width=2, ignore_id=None)[0], [1, 1, 1, 1, 1])


@pytest.mark.parametrize("width", [1, 2, 3])
def test_band_matches_brute_force_on_random_masks_with_ignore(width):
    rng = np.random.default_rng(width)
    # Blocky masks so there are interiors as well as edges.
    y = np.kron(rng.integers(0, 4, (5, 6)), np.ones((3, 4), np.int64)).astype(np.int32)[:14, :21]
    y[rng.random(y.shape) < 0.05] = 255
    np.testing.assert_array_equal(boundary_mask(y, width), _reference_band(y, width, 255))


def test_batch_images_do_not_see_each_other():
    y = np.stack([np.zeros((5, 5), np.int32), np.ones((5, 5), np.int32)])
    assert not boundary_mask(y, width=3).any()


def test_boundary_iou_hand_computed_and_harsher_than_overall_miou():
    y_true = np.zeros((6, 6), np.int32)
    y_true[:, 3:] = 1
    y_pred = np.zeros((6, 6), np.int32)
    y_pred[:, 4:] = 1  # the edge is one column too far right
    cm = boundary_confusion_matrix(y_true, y_pred, 2, width=1)
    # Band = columns 2 (truth 0, predicted 0) and 3 (truth 1, predicted 0).
    np.testing.assert_array_equal(cm, [[6, 0], [6, 0]])
    assert boundary_iou(y_true, y_pred, 2, width=1) == pytest.approx((6 / 12 + 0 / 6) / 2)
    overall = metrics.report_from_confusion(metrics.confusion_matrix(y_true, y_pred, 2))["miou"]
    assert overall == pytest.approx((18 / 24 + 12 / 18) / 2)
    # A perfect prediction scores 1 on the band too.
    assert boundary_iou(y_true, y_true, 2, width=1) == 1.0


def test_streaming_sums_confusion_matrices_over_images_of_different_sizes():
    rng = np.random.default_rng(0)
    pairs = []
    for shape in [(9, 11), (16, 7), (12, 12)]:
        t = np.kron(rng.integers(0, 3, (shape[0] // 3 + 1, shape[1] // 3 + 1)), np.ones((3, 3), int))
        t = t[: shape[0], : shape[1]].astype(np.int32)
        p = np.where(rng.random(shape) < 0.2, rng.integers(0, 3, shape), t).astype(np.int32)
        pairs.append((t, p))
    acc = BoundaryIoU(3, width=2)
    for t, p in pairs:
        acc.update(t, p)
    total = sum(boundary_confusion_matrix(t, p, 3, width=2) for t, p in pairs)
    np.testing.assert_array_equal(acc.confusion_matrix, total)
    tp = np.diag(total).astype(float)
    iou = tp / (total.sum(0) + total.sum(1) - tp)
    assert acc.result() == pytest.approx(iou.mean())
    per_image_mean = np.mean([boundary_iou(t, p, 3, width=2) for t, p in pairs])
    assert acc.result() != pytest.approx(per_image_mean)  # dataset-level, not a mean of images
    acc.reset()
    assert acc.confusion_matrix.sum() == 0 and acc.result() == 0.0


@pytest.mark.parametrize("args, kwargs, match", [
    ((np.zeros((4, 4), np.int32), np.zeros((4, 5), np.int32), 2), {}, "same shape"),
    ((np.zeros((4, 4), np.int32), np.zeros((4, 4), np.float32), 2), {}, "integer class ids"),
    ((np.full((4, 4), 3, np.int32), np.zeros((4, 4), np.int32), 2), {}, "y_true holds id 3"),
    ((np.zeros((4, 4), np.int32), np.full((4, 4), 2, np.int32), 2), {}, "y_pred holds id 2"),
    ((np.zeros((4, 4), np.int32), np.zeros((4, 4), np.int32), 2), {"width": 0}, "width"),
    ((np.zeros((4, 4), np.int32), np.zeros((4, 4), np.int32), 0), {}, "num_classes"),
])
def test_bad_inputs_raise_clear_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        boundary_iou(*args, **kwargs)
