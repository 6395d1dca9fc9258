"""Scores derived from a confusion matrix (rows: truth, columns: prediction).

Written with ``keras.ops`` so the streaming metrics and the NumPy report
share one definition; they accept NumPy arrays as well as tensors.
"""

from keras import ops


def _float64(cm):
    return ops.cast(ops.convert_to_tensor(cm), "float64")


def per_class_iou(cm):
    """IoU per class and whether the class counts.

    Args:
        cm: ``(C, C)`` confusion matrix of pixel counts.

    Returns:
        iou: float64 ``(C,)``, 0 for absent classes.
        present: bool ``(C,)``, False for classes absent from both truth and
            prediction (their IoU is undefined).
    """
    cm = _float64(cm)
    true_positives = ops.diagonal(cm)
    union = ops.sum(cm, axis=0) + ops.sum(cm, axis=1) - true_positives
    return ops.divide_no_nan(true_positives, union), union > 0


def per_class_accuracy(cm):
    """Recall per class (correct / truth pixels) and whether the class occurs in the truth.

    Returns float64 ``(C,)`` accuracies (0 where undefined) and bool ``(C,)``.
    """
    cm = _float64(cm)
    support = ops.sum(cm, axis=1)
    return ops.divide_no_nan(ops.diagonal(cm), support), support > 0


def pixel_accuracy(cm):
    """Correct pixels / counted pixels (float64 scalar; 0 for an empty matrix)."""
    cm = _float64(cm)
    return ops.divide_no_nan(ops.sum(ops.diagonal(cm)), ops.sum(cm))


def mean_over_present(values, present):
    """Mean of ``values`` where ``present`` is True (float64 scalar; 0 if none)."""
    present = ops.cast(present, "float64")
    return ops.divide_no_nan(ops.sum(values * present), ops.sum(present))


def mean_iou(cm):
    """Mean IoU over classes present in truth or prediction."""
    return mean_over_present(*per_class_iou(cm))


def mean_accuracy(cm):
    """Class-mean accuracy over classes present in the truth."""
    return mean_over_present(*per_class_accuracy(cm))
