"""NumPy-facing helpers: a confusion matrix from arrays and a JSON-ready report."""

import numpy as np
from keras import ops

from kseg.metrics import scores
from kseg.metrics.confusion_matrix import batch_confusion_matrix, check_num_classes


def confusion_matrix(y_true, y_pred, num_classes, ignore_id=255):
    """Confusion matrix of label and prediction arrays.

    Args:
        y_true: int array ``(H, W)`` or ``(B, H, W)`` (a trailing axis of 1 is
            accepted) of class ids.
        y_pred: int array of class ids shaped like ``y_true``, or float
            scores/logits with an extra trailing class axis (argmax is taken).
        num_classes: C.
        ignore_id: truth id whose pixels are skipped, or None.

    Returns:
        int64 ndarray ``(C, C)``: rows truth, columns prediction.

    Raises:
        ValueError: shape mismatch, or an id outside ``[0, C)`` that is not
            ``ignore_id``.
    """
    check_num_classes(num_classes)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if not np.issubdtype(y_true.dtype, np.integer):
        raise ValueError(f"y_true must hold integer class ids, got dtype {y_true.dtype}.")
    floating = np.issubdtype(y_pred.dtype, np.floating)
    if not floating and not np.issubdtype(y_pred.dtype, np.integer):
        raise ValueError(f"y_pred must be integer class ids or float scores, got dtype {y_pred.dtype}.")
    if y_true.ndim >= 1 and y_true.ndim == y_pred.ndim + (0 if floating else 1) and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    # The shared tensor code expects a batch axis.
    if y_true.ndim == 2:
        y_true = y_true[None]
        y_pred = y_pred[None]
    expected = y_true.shape + ((num_classes,) if floating else ())
    if y_true.ndim != 3 or y_pred.shape != expected:
        raise ValueError(
            f"y_true of shape {y_true.shape} needs y_pred of shape {expected}; got {y_pred.shape}."
        )
    cm = batch_confusion_matrix(
        y_true.astype(np.int32), y_pred if floating else y_pred.astype(np.int32),
        num_classes, ignore_id,
    )
    return np.rint(ops.convert_to_numpy(cm)).astype(np.int64)


def report_from_confusion(cm, class_names=None):
    """Scores of a confusion matrix as a JSON-serialisable dict.

    Args:
        cm: ``(C, C)`` array-like of non-negative pixel counts, rows truth,
            columns prediction (e.g. ``ConfusionMatrix(...).result()``).
        class_names: optional sequence of C distinct names; default
            ``"class_0"``, ``"class_1"``, ...

    Returns a dict with fractions in [0, 1]:
        ``miou``: mean IoU over classes present in truth or prediction;
        ``per_class_iou``: {name: IoU, or None for a class absent from both};
        ``pixel_accuracy``;
        ``mean_accuracy``: mean recall over classes present in the truth;
        ``per_class_accuracy``: {name: recall, or None if absent from truth};
        ``confusion_matrix``: list of lists of ints;
        ``class_names``: list of str.
    With an all-zero matrix the scalar scores are 0.0.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"cm must be a square (C, C) matrix, got shape {cm.shape}.")
    if not np.all(np.isfinite(cm)) or np.any(cm < 0):
        raise ValueError("cm must hold finite, non-negative counts.")
    num_classes = cm.shape[0]
    if class_names is None:
        class_names = [f"class_{i}" for i in range(num_classes)]
    class_names = [str(name) for name in class_names]
    if len(class_names) != num_classes:
        raise ValueError(
            f"class_names has {len(class_names)} entries but cm has {num_classes} classes."
        )
    if len(set(class_names)) != num_classes:
        raise ValueError(f"class_names must be distinct, got {class_names}.")

    def by_class(values_and_present):
        values, present = (ops.convert_to_numpy(v) for v in values_and_present)
        return {
            name: (float(value) if ok else None)
            for name, value, ok in zip(class_names, values, present)
        }

    counts = np.rint(cm).astype(np.int64) if np.issubdtype(cm.dtype, np.floating) else cm.astype(np.int64)
    return {
        "miou": float(scores.mean_iou(cm)),
        "per_class_iou": by_class(scores.per_class_iou(cm)),
        "pixel_accuracy": float(scores.pixel_accuracy(cm)),
        "mean_accuracy": float(scores.mean_accuracy(cm)),
        "per_class_accuracy": by_class(scores.per_class_accuracy(cm)),
        "confusion_matrix": counts.tolist(),
        "class_names": class_names,
    }
