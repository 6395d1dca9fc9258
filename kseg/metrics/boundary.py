"""Boundary IoU: mean IoU restricted to a band around the ground truth's class boundaries.

Overall mIoU is dominated by the interior of large regions; how well a
decoder restores resolution shows near edges. Definition used here (NumPy,
evaluated on class-id maps):

* A pixel is in the **boundary band** of width ``w`` when it is valid (its
  ``y_true`` is not ``ignore_id``) and its ``(2w+1) x (2w+1)`` neighbourhood
  in ``y_true``, clipped to the image, contains a valid pixel of another
  class. Ignore pixels never count as "another class", so a region next to
  a void area is not a boundary there, and ignore pixels are never in the
  band. Only ``y_true`` defines the band, so every prediction is scored on
  the same pixels.
* The boundary confusion matrix counts ``(y_true, y_pred)`` over band
  pixels; boundary mIoU is ``kseg.metrics`` mean IoU of that matrix (mean
  over classes present in the band's truth or prediction).

Streaming over a data set: ``BoundaryIoU.update`` sums per-image matrices
(the dataset-level IoU, like ``MeanIoU``), not a mean of per-image scores.
"""

import numpy as np
from keras import ops

from kseg._checks import positive_int

from kseg.metrics import scores
from kseg.metrics.confusion_matrix import check_num_classes


def _check_width(width):
    return positive_int(width, "`width` (pixels)", context="boundary IoU")


def _window_extreme(values, width, reduce, fill):
    """Max or min (``reduce``) over a ``(2w+1)^2`` window on the last two axes.

    Separable (rows, then columns); outside the image counts as ``fill``.
    """
    out = values
    for axis in (-2, -1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (width, width)
        padded = np.pad(out, pad, constant_values=fill)
        length = out.shape[axis]
        acc = np.take(padded, range(0, length), axis=axis)
        for shift in range(1, 2 * width + 1):
            acc = reduce(acc, np.take(padded, range(shift, shift + length), axis=axis))
        out = acc
    return out


def boundary_mask(y_true, width=3, ignore_id=255):
    """Boolean band of pixels within ``width`` px of a class boundary of ``y_true``.

    Args:
        y_true: int array ``(H, W)`` or ``(B, H, W)`` of class ids.
        width: band half-width ``w`` in pixels (window ``(2w+1) x (2w+1)``).
        ignore_id: id of unlabelled pixels (never in the band, never
            "another class"), or None.

    Returns:
        bool ndarray shaped like ``y_true`` (definition in the module docstring).
    """
    width = _check_width(width)
    y_true = np.asarray(y_true)
    if not np.issubdtype(y_true.dtype, np.integer) or y_true.ndim not in (2, 3):
        raise ValueError(
            f"y_true must be an integer array (H, W) or (B, H, W); got dtype {y_true.dtype}, "
            f"shape {y_true.shape}."
        )
    labels = y_true.astype(np.int64)
    valid = labels != ignore_id if ignore_id is not None else np.ones(labels.shape, bool)
    # A pixel of class a sees another valid class iff the max of its valid
    # neighbours exceeds a or their min is below it; ignore pixels take the
    # neutral value of each reduction so they change neither.
    big = np.iinfo(np.int64).max
    neighbour_max = _window_extreme(np.where(valid, labels, -1), width, np.maximum, -1)
    neighbour_min = _window_extreme(np.where(valid, labels, big), width, np.minimum, big)
    return valid & ((neighbour_max > labels) | (neighbour_min < labels))


def _check_pair(y_true, y_pred, num_classes, ignore_id):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if not np.issubdtype(y_true.dtype, np.integer) or not np.issubdtype(y_pred.dtype, np.integer):
        raise ValueError(
            f"y_true and y_pred must hold integer class ids (take argmax of logits first); got dtypes "
            f"{y_true.dtype} and {y_pred.dtype}."
        )
    if y_true.shape != y_pred.shape or y_true.ndim not in (2, 3):
        raise ValueError(
            f"y_true and y_pred must have the same shape (H, W) or (B, H, W); got {y_true.shape} and "
            f"{y_pred.shape}."
        )
    labelled = y_true[y_true != ignore_id] if ignore_id is not None else y_true
    if labelled.size and (labelled.min() < 0 or labelled.max() >= num_classes):
        bad = labelled[(labelled < 0) | (labelled >= num_classes)][0]
        raise ValueError(f"y_true holds id {bad}, outside [0, {num_classes}) and not ignore_id={ignore_id}.")
    if y_pred.size and (y_pred.min() < 0 or y_pred.max() >= num_classes):
        bad = y_pred[(y_pred < 0) | (y_pred >= num_classes)][0]
        raise ValueError(f"y_pred holds id {bad}, outside [0, {num_classes}).")
    return y_true, y_pred


def boundary_confusion_matrix(y_true, y_pred, num_classes, ignore_id=255, width=3):
    """Confusion matrix over the boundary band of ``y_true`` (rows truth, columns prediction).

    Args:
        y_true: int array ``(H, W)`` or ``(B, H, W)`` of class ids in
            ``[0, num_classes)`` or ``ignore_id``.
        y_pred: int array of predicted class ids, same shape.
        num_classes: C.
        ignore_id: unlabelled id in ``y_true``, or None.
        width: band half-width in pixels.

    Returns:
        int64 ndarray ``(C, C)``.

    Raises:
        ValueError: non-integer arrays, shape mismatch, ids out of range, bad width.
    """
    check_num_classes(num_classes)
    y_true, y_pred = _check_pair(y_true, y_pred, num_classes, ignore_id)
    band = boundary_mask(y_true, width, ignore_id)
    pairs = y_true[band].astype(np.int64) * num_classes + y_pred[band].astype(np.int64)
    return np.bincount(pairs, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def boundary_iou(y_true, y_pred, num_classes, ignore_id=255, width=3):
    """Boundary mIoU of one image or batch (float; 0.0 when the band is empty).

    Arguments as ``boundary_confusion_matrix``; for a data set use
    ``BoundaryIoU`` so the matrices are summed before the IoU is taken.
    """
    return float(ops.convert_to_numpy(scores.mean_iou(
        boundary_confusion_matrix(y_true, y_pred, num_classes, ignore_id, width))))


class BoundaryIoU:
    """Streaming boundary mIoU: sums boundary confusion matrices over ``update`` calls.

    ``update(y_true, y_pred)`` takes int class-id arrays ``(H, W)`` or
    ``(B, H, W)`` (images may differ in size between calls);
    ``result()`` is the boundary mIoU of everything seen (float);
    ``confusion_matrix`` the int64 ``(C, C)`` sum (feed it to
    ``report_from_confusion`` for per-class values); ``reset()`` clears it.
    """

    def __init__(self, num_classes, ignore_id=255, width=3):
        check_num_classes(num_classes)
        self.num_classes = int(num_classes)
        self.ignore_id = ignore_id
        self.width = _check_width(width)
        self.reset()

    def reset(self):
        self.confusion_matrix = np.zeros((self.num_classes, self.num_classes), np.int64)

    def update(self, y_true, y_pred):
        self.confusion_matrix += boundary_confusion_matrix(
            y_true, y_pred, self.num_classes, self.ignore_id, self.width)
        return self

    def result(self):
        return float(ops.convert_to_numpy(scores.mean_iou(self.confusion_matrix)))
