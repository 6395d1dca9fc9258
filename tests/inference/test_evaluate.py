"""kseg.inference.evaluate: scores by value, at the data's resolution and at a given input size."""

import numpy as np
import pytest

from kseg.data import synthetic
from kseg.inference import Predictor, evaluate
from kseg.metrics import boundary_confusion_matrix

NUM_CLASSES = 3


def _threshold_predictor(seen, accepts_float=True):
    """Class 0/1/2 from the red channel's brightness; records the dtypes it was given."""

    def run(images):
        seen.append(images.dtype)
        return np.digitize(images[..., 0].astype(np.float32), [100.0, 170.0]).astype(np.int32)

    return Predictor("<threshold>", "keras", run, NUM_CLASSES, accepts_float=accepts_float)


@pytest.fixture(scope="module")
def data():
    return synthetic(4, split="val", image_size=(32, 48), num_classes=NUM_CLASSES)


def _by_hand(data, width):
    """mIoU and boundary mIoU summed over the images, with np.bincount (an independent count)."""
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    bcm = np.zeros_like(cm)
    for image, mask in data.dataset.as_numpy_iterator():
        pred = np.digitize(image[..., 0].astype(np.float32), [100.0, 170.0])
        keep = mask != data.ignore_id
        cm += np.bincount(mask[keep] * NUM_CLASSES + pred[keep], minlength=NUM_CLASSES**2).reshape(3, 3)
        bcm += boundary_confusion_matrix(mask, pred, NUM_CLASSES, data.ignore_id, width)

    def miou(m):
        union = m.sum(0) + m.sum(1) - np.diag(m)
        return np.mean(np.diag(m)[union > 0] / union[union > 0])

    return miou(cm), miou(bcm), cm


def test_native_resolution_scores_and_boundary_iou_by_value(data):
    seen = []
    report = evaluate(_threshold_predictor(seen), data, boundary_width=2, num_overlays=0)
    miou, boundary, cm = _by_hand(data, 2)
    assert report["miou"] == pytest.approx(miou)
    assert report["boundary_miou"] == pytest.approx(boundary) and report["boundary_width"] == 2
    assert report["confusion_matrix"] == cm.tolist() and report["num_images"] == 4
    assert set(seen) == {np.dtype(np.uint8)} and "input_size" not in report


def test_at_the_native_size_the_fit_view_scores_the_same_and_a_uint8_predictor_gets_uint8(data):
    native = evaluate(_threshold_predictor([]), data, boundary_width=2, num_overlays=0)
    seen = []
    resized = evaluate(_threshold_predictor(seen), data, input_size=(32, 48), batch_size=3, boundary_width=2,
                       num_overlays=0)
    assert resized["confusion_matrix"] == native["confusion_matrix"]
    assert resized["boundary_miou"] == pytest.approx(native["boundary_miou"])
    assert resized["input_size"] == [32, 48] and resized["num_images"] == 4
    assert set(seen) == {np.dtype(np.float32)}  # the Keras view: fit's float pixels
    seen = []
    exported = evaluate(_threshold_predictor(seen, accepts_float=False), data, input_size=(32, 48),
                        max_images=3, num_overlays=0)
    assert set(seen) == {np.dtype(np.uint8)} and exported["num_images"] == 3
    # Twice the size, same aspect: every pixel counted four times over (nearest masks), none padded.
    double = evaluate(_threshold_predictor([]), data, input_size=(64, 96), num_overlays=0)
    assert np.sum(double["confusion_matrix"]) == 4 * np.sum(native["confusion_matrix"])


def test_bad_arguments_are_named(data):
    with pytest.raises(ValueError, match="input_size"):
        evaluate(_threshold_predictor([]), data, input_size=(32, 0))
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(_threshold_predictor([]), data, input_size=(32, 48), batch_size=0)
    with pytest.raises(ValueError, match="width"):
        evaluate(_threshold_predictor([]), data, boundary_width=0)
