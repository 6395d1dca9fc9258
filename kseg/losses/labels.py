"""Label handling shared by the losses and the metrics.

Segmentation labels arrive as int ``(B, H, W)`` or ``(B, H, W, 1)`` maps in
which ``ignore_id`` marks pixels that must not count. Any other id outside
``[0, num_classes)`` is a data bug (a wrong label map, a mask resized with
bilinear interpolation), so it is reported instead of being trained on.

This is one of the few kseg modules that uses TensorFlow directly:
``tf.debugging.Assert`` is the only way to fail from inside a traced graph.

Under XLA (``jit_compile=True``, and Keras's default ``"auto"`` on GPUs)
assertions are compiled away. There a stray id turns the loss and the
confusion matrix of its batch into NaN instead (:func:`stray_id_nan`): the
Keras log shows ``loss: nan`` and ``miou: nan``, and ``TerminateOnNaN``
(in kseg's training callbacks) stops the run, rather than the pixels being
silently dropped like ignored ones.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kseg import _checks as checks

# The int32 minimum: never a class, never an ignore id (ignore_id >= -2**31 + 1 in practice).
NOT_AN_ID = -(2**31)


def check_ignore_id(ignore_id):
    """Validate a loss or metric ``ignore_id`` argument: any int (-100 too) or None."""
    return checks.check_ignore_id(ignore_id, optional=True, allow_negative=True)


def squeeze_labels(y_true, y_pred_rank):
    """Return labels as int32 ``(B, H, W)``.

    Args:
        y_true: int or float tensor ``(B, H, W)`` or ``(B, H, W, 1)``.
        y_pred_rank: rank of the logits, normally 4.
    """
    y_true = ops.convert_to_tensor(y_true)
    rank = len(y_true.shape)
    if rank == y_pred_rank and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    elif rank != y_pred_rank - 1:
        raise ValueError(
            f"y_true must have shape (B, H, W) or (B, H, W, 1) for logits of rank "
            f"{y_pred_rank}; got y_true of shape {tuple(y_true.shape)}."
        )
    if not keras.backend.is_int_dtype(y_true.dtype):
        # Keras' Loss.__call__ converts labels to float; ids are exact
        # integers, so a fraction (a mask resized with bilinear interpolation)
        # is a data bug that rounding would turn into a plausible class.
        # Under XLA, where the check cannot run, a fraction becomes an id
        # that is no class and no ignore id, so valid_mask poisons the batch.
        rounded = ops.round(y_true)
        integral = ops.equal(rounded, y_true)
        y_true = _checked(
            ops.where(integral, rounded, NOT_AN_ID), integral,
            "y_true holds non-integer class ids; resize masks with nearest-neighbour interpolation.",
            y_true)
    return ops.cast(y_true, "int32")


def _checked(result, ok, message, values):
    """``result`` once every element of ``ok`` holds; else ValueError (eager,
    listing offending ``values``) or InvalidArgumentError (graph)."""
    all_ok = ops.all(ok)
    if tf.executing_eagerly():
        if not bool(all_ok):
            bad = np.unique(ops.convert_to_numpy(values)[~ops.convert_to_numpy(ok)])
            raise ValueError(f"{message} Offending ids: {bad[:10].tolist()}.")
        return result
    assertion = tf.debugging.Assert(
        all_ok, [message, "min id:", ops.min(values), "max id:", ops.max(values)]
    )
    with tf.control_dependencies([assertion]):
        return tf.identity(result)


def _id_ok(labels, num_classes, ignore_id):
    """(in_range, ok): ``0 <= id < C``, and that or ``id == ignore_id``."""
    in_range = ops.logical_and(labels >= 0, labels < num_classes)
    if ignore_id is None:
        return in_range, in_range
    return in_range, ops.logical_or(in_range, ops.equal(labels, ignore_id))


def valid_mask(labels, num_classes, ignore_id, what="y_true"):
    """Boolean mask of pixels that count, with a check on stray ids.

    Args:
        labels: int32 tensor of class ids, any shape.
        num_classes: number of classes C.
        ignore_id: id to skip, or None.
        what: argument name used in error messages.

    Returns:
        bool tensor shaped like ``labels``: True where ``0 <= id < C``.

    Raises:
        ValueError (eagerly) or ``tf.errors.InvalidArgumentError`` (in a
        graph) if an id outside ``[0, C)`` that is not ``ignore_id`` occurs.
        Under XLA (``jit_compile=True``) assertions are compiled away: callers
        add :func:`stray_id_nan` to their result so such a batch gives NaN.
    """
    in_range, ok = _id_ok(labels, num_classes, ignore_id)
    message = (
        f"{what} contains class ids outside [0, {num_classes}) that are not the "
        f"ignore id {ignore_id}; check num_classes and the label map."
    )
    return _checked(in_range, ok, message, labels)


def stray_id_nan(labels, num_classes, ignore_id, dtype="float32"):
    """Scalar 0, or NaN when ``labels`` holds an id outside ``[0, C)`` that is
    not ``ignore_id``. Added to a loss or a confusion matrix it changes
    nothing for good labels and makes bad ones impossible to miss where the
    assertion of :func:`valid_mask` cannot run (XLA)."""
    _, ok = _id_ok(labels, num_classes, ignore_id)
    return ops.where(ops.all(ok), ops.cast(0.0, dtype), ops.cast(float("nan"), dtype))
