"""Streaming confusion matrix: the state behind every kseg segmentation metric."""

import keras
from keras import ops

from kseg._checks import positive_int
from kseg.losses.base import pixel_sample_weight
from kseg.losses.labels import check_ignore_id, squeeze_labels, stray_id_nan, valid_mask


def check_num_classes(num_classes):
    """Validate a ``num_classes`` argument (int >= 1)."""
    return positive_int(num_classes, "num_classes")


def batch_confusion_matrix(y_true, y_pred, num_classes, ignore_id=255, sample_weight=None):
    """Confusion matrix of one batch as a float64 ``(C, C)`` tensor.

    Args:
        y_true: int ``(B, H, W)`` or ``(B, H, W, 1)`` class ids.
        y_pred: float logits / probabilities ``(B, H, W, C)`` (argmax is
            taken), or int class ids ``(B, H, W)``.
        num_classes: C.
        ignore_id: truth id whose pixels are skipped, or None.
        sample_weight: optional per-pixel weights broadcastable to
            ``(B, H, W)``; counts become weight sums.

    Rows index the truth, columns the prediction. Truth ids outside
    ``[0, C)`` that are not ``ignore_id`` raise (ValueError eagerly,
    InvalidArgumentError in a graph); under XLA, where the check is compiled
    away, they make the whole matrix NaN.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    if keras.backend.is_int_dtype(y_pred.dtype):
        predictions = ops.cast(y_pred, "int32")
        labels = squeeze_labels(y_true, len(predictions.shape) + 1)
    else:
        if y_pred.shape[-1] is not None and y_pred.shape[-1] != num_classes:
            raise ValueError(
                f"y_pred has {y_pred.shape[-1]} classes on its last axis but the metric "
                f"was built with num_classes={num_classes}."
            )
        predictions = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        labels = squeeze_labels(y_true, len(y_pred.shape))
    if None not in labels.shape and None not in predictions.shape and tuple(labels.shape) != tuple(predictions.shape):
        raise ValueError(
            f"y_true has shape {tuple(labels.shape)} but the predictions have shape "
            f"{tuple(predictions.shape)}; resize the logits to the label resolution."
        )
    valid = ops.logical_and(
        valid_mask(labels, num_classes, ignore_id, what="y_true"),
        valid_mask(predictions, num_classes, None, what="y_pred"),
    )
    weights = ops.cast(valid, "float64")
    if sample_weight is not None:
        weights = weights * ops.cast(pixel_sample_weight(sample_weight, len(labels.shape)), "float64")
    index = ops.where(valid, labels * num_classes + predictions, 0)
    counts = ops.segment_sum(
        ops.reshape(weights, (-1,)), ops.reshape(index, (-1,)),
        num_segments=num_classes * num_classes, sorted=False,
    )
    # Under XLA the checks above are compiled away: a stray id makes the
    # matrix (and every score from it, for the rest of the epoch) NaN.
    poison = stray_id_nan(labels, num_classes, ignore_id, "float64") + stray_id_nan(
        predictions, num_classes, None, "float64")
    return ops.reshape(counts, (num_classes, num_classes)) + poison


@keras.saving.register_keras_serializable(package="kseg")
class ConfusionMatrix(keras.metrics.Metric):
    """Streaming ``(C, C)`` confusion matrix over all batches seen.

    Rows index the truth, columns the prediction. The state is a float64
    variable (exact pixel counts up to 2**53) that ``tf.distribute``
    aggregates by SUM across replicas and workers. Works in ``model.fit`` /
    ``evaluate`` with ``jit_compile`` off, on or "auto".

    Args:
        num_classes: number of classes C.
        ignore_id: truth id whose pixels are skipped (default 255), or None.
        name: metric name.
        dtype: dtype of ``result()`` (default float32).

    ``update_state(y_true, y_pred, sample_weight=None)``: y_true int
    ``(B, H, W)`` or ``(B, H, W, 1)``; y_pred logits ``(B, H, W, C)`` (argmax
    inside) or int class ids ``(B, H, W)``. Truth ids outside ``[0, C)`` other
    than ``ignore_id`` are an error (under XLA, where assertions cannot run,
    they turn the state and every score into NaN until ``reset_state``).

    ``result()`` of this base class: the float ``(C, C)`` matrix; subclasses
    return scores derived from it.
    """

    def __init__(self, num_classes, ignore_id=255, name="confusion_matrix", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = check_num_classes(num_classes)
        self.ignore_id = check_ignore_id(ignore_id)
        self.total_confusion_matrix = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype="float64",
            aggregation="sum",
            name="total_confusion_matrix",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total_confusion_matrix.assign_add(
            batch_confusion_matrix(y_true, y_pred, self.num_classes, self.ignore_id, sample_weight)
        )

    def reset_state(self):
        self.total_confusion_matrix.assign(
            ops.zeros((self.num_classes, self.num_classes), dtype="float64")
        )

    def score(self, cm):
        """Subclass hook: float64 score(s) from the float64 matrix."""
        return cm

    def result(self):
        cm = ops.convert_to_tensor(self.total_confusion_matrix)
        # A NaN matrix (stray ids under XLA) gives NaN scores, never a plausible number.
        nan = ops.where(ops.any(ops.isnan(cm)), float("nan"), 0.0)
        return ops.cast(self.score(cm) + ops.cast(nan, "float64"), self.dtype)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "ignore_id": self.ignore_id}
