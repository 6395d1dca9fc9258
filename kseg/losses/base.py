"""The base class of kseg's segmentation losses.

Every loss takes int labels ``y_true`` ``(B, H, W)`` (or ``(B, H, W, 1)``)
and float logits ``y_pred`` ``(B, H, W, C)`` of any float dtype, and computes
in float32 so that ``mixed_float16`` / ``mixed_bfloat16`` training stays
stable.

``SegmentationLoss.__call__`` replaces Keras' reduction: Keras divides by the
number of elements, while segmentation losses must divide by the number of
*non-ignored* pixels (or reduce over classes, for Dice). Like Keras' own
reduction, the result is divided by the number of replicas in sync under
``tf.distribute``, because Keras sums gradients across replicas.
"""

import math

import keras
import tensorflow as tf
from keras import ops

from kseg._checks import check_number  # noqa: F401  (kseg.losses.base.check_number)
from kseg.losses.labels import check_ignore_id, squeeze_labels, stray_id_nan, valid_mask


def check_class_weights(class_weights):
    """Validate a ``class_weights`` argument; returns a tuple of floats or None."""
    if class_weights is None:
        return None
    try:
        weights = tuple(float(w) for w in class_weights)
    except (TypeError, ValueError):
        raise ValueError(
            f"class_weights must be a sequence of numbers, got {class_weights!r}."
        ) from None
    if not weights:
        raise ValueError("class_weights must not be empty.")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"class_weights must be finite and >= 0, got {weights}.")
    return weights


def replica_scale(value):
    """Divide ``value`` by the replicas in sync (Keras sums their gradients)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
        value = value / replicas
    return value


def pixel_sample_weight(sample_weight, rank):
    """float32 ``sample_weight`` reshaped to broadcast against ``(B, H, W)``.

    Accepts ``(B,)``, ``(B, 1, 1)``, ``(B, H, W)`` and ``(B, H, W, 1)``.
    """
    sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    if len(sample_weight.shape) == rank + 1 and sample_weight.shape[-1] == 1:
        sample_weight = ops.squeeze(sample_weight, -1)
    if len(sample_weight.shape) > rank:
        raise ValueError(
            f"sample_weight must broadcast to (B, H, W); got shape {tuple(sample_weight.shape)}."
        )
    while len(sample_weight.shape) < rank:
        # Per-image weights (B,) must scale whole images, not image columns.
        sample_weight = ops.expand_dims(sample_weight, -1)
    return sample_weight


DEFAULT_REDUCTION = "sum_over_batch_size"
# Keras's reductions; kseg's losses read the "mean" ones as "mean over valid pixels".
MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")
PIXEL_REDUCTIONS = (*MEAN_REDUCTIONS, "sum", "none", None)


def check_reduction(reduction, allowed, owner):
    """Validate a ``reduction`` argument against ``allowed``; returns it."""
    if reduction not in allowed:
        raise ValueError(f"{owner}: reduction must be one of {list(allowed)}; got {reduction!r}.")
    return reduction


class SegmentationLoss(keras.losses.Loss):
    """Shared argument handling and label preparation for kseg losses.

    Subclasses define ``compute(y_true, y_pred, sample_weight)`` returning the
    float32 loss of one replica's batch (reduced as ``self.reduction`` says).

    Args:
        ignore_id: label id whose pixels do not contribute (None: no ignore).
        class_weights: optional sequence of C non-negative per-class weights.
        from_logits: True if ``y_pred`` holds logits (the kseg model
            contract); False if it holds probabilities that sum to 1.
        name: loss name.
        reduction: one of Keras's reductions (see :class:`PixelwiseLoss`).
    """

    REDUCTIONS = PIXEL_REDUCTIONS

    def __init__(self, ignore_id=255, class_weights=None, from_logits=True, name=None,
                 reduction=DEFAULT_REDUCTION):
        reduction = check_reduction(reduction, self.REDUCTIONS, type(self).__name__)
        super().__init__(name=name, reduction=reduction, dtype="float32")
        self.ignore_id = check_ignore_id(ignore_id)
        self.class_weights = check_class_weights(class_weights)
        if not isinstance(from_logits, bool):
            raise ValueError(f"from_logits must be a bool, got {from_logits!r}.")
        self.from_logits = from_logits

    def prepare(self, y_true, y_pred):
        """Labels, validity mask and float32 log-probabilities.

        Returns:
            labels: int32 ``(B, H, W)``, ignored/invalid pixels set to 0.
            valid: float32 ``(B, H, W)``, 1 where the pixel counts.
            log_probs: float32 ``(B, H, W, C)``.
        """
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        rank = len(y_pred.shape)
        num_classes = y_pred.shape[-1]
        if num_classes is None:
            raise ValueError("y_pred must have a static number of classes (last axis).")
        if self.class_weights is not None and len(self.class_weights) != num_classes:
            raise ValueError(
                f"class_weights has {len(self.class_weights)} entries but y_pred has "
                f"{num_classes} classes."
            )
        labels = squeeze_labels(y_true, rank)
        valid = valid_mask(labels, num_classes, self.ignore_id)
        poison = stray_id_nan(labels, num_classes, self.ignore_id)
        labels = ops.where(valid, labels, 0)
        if self.from_logits:
            log_probs = ops.log_softmax(y_pred, axis=-1)
        else:
            log_probs = ops.log(ops.clip(y_pred, 1e-7, 1.0))
        # NaN under XLA when a stray id got past the compiled-away check.
        return labels, ops.cast(valid, "float32"), log_probs + poison

    def pixel_class_weights(self, labels):
        """float32 weight of each pixel's true class, or None without weights."""
        if self.class_weights is None:
            return None
        return ops.take(ops.convert_to_tensor(self.class_weights, "float32"), labels)

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            value = self.compute(y_true, y_pred, sample_weight)
            return value if self.reduction in ("none", None) else replica_scale(value)

    def get_config(self):
        config = {
            "name": self.name,
            "ignore_id": self.ignore_id,
            "class_weights": None if self.class_weights is None else list(self.class_weights),
            "from_logits": self.from_logits,
        }
        if self.reduction != DEFAULT_REDUCTION:
            config["reduction"] = self.reduction
        return config


class PixelwiseLoss(SegmentationLoss):
    """A loss that is a weighted mean of per-pixel terms over valid pixels.

    Subclasses define ``pixel_losses(labels, log_probs)`` -> float32
    ``(B, H, W)``. The reduction is

        loss = sum_i v_i * s_i * w[y_i] * l_i / sum_i v_i

    with ``v_i`` = 1 for non-ignored pixels, ``s_i`` the optional
    ``sample_weight`` (broadcastable to ``(B, H, W)``, e.g. ``(B, 1, 1)``),
    ``w`` the class weights (1 without them). The denominator is the number of
    valid pixels N_valid, not the sum of weights (as in torchvision and
    DeepLab, unlike PyTorch's weighted ``CrossEntropyLoss``), so class weights
    change the loss scale. A batch with no valid pixel gives 0.

    ``reduction`` (Keras's names): ``"sum_over_batch_size"`` (default) and
    ``"mean"``: the formula above; ``"mean_with_sample_weight"``: divided by
    ``sum_i v_i * s_i * w[y_i]`` instead (PyTorch's weighted mean);
    ``"sum"``: the numerator; ``"none"`` (or None): the float32 ``(B, H, W)``
    map of ``v_i * s_i * w[y_i] * l_i`` (0 at ignored pixels).
    """

    def compute(self, y_true, y_pred, sample_weight=None):
        labels, valid, log_probs = self.prepare(y_true, y_pred)
        weights = valid
        class_weights = self.pixel_class_weights(labels)
        if class_weights is not None:
            weights = weights * class_weights
        if sample_weight is not None:
            weights = weights * pixel_sample_weight(sample_weight, len(weights.shape))
        losses = self.pixel_losses(labels, log_probs) * weights
        if self.reduction in ("none", None):
            return losses
        if self.reduction == "sum":
            return ops.sum(losses)
        if self.reduction == "mean_with_sample_weight":
            return ops.divide_no_nan(ops.sum(losses), ops.sum(weights))
        return ops.divide_no_nan(ops.sum(losses), ops.sum(valid))


def true_class_log_prob(labels, log_probs):
    """``log p(y_i)`` for each pixel: float32 ``(B, H, W)``."""
    return ops.squeeze(
        ops.take_along_axis(log_probs, ops.expand_dims(labels, -1), axis=-1), axis=-1
    )
