"""Soft Dice loss over softmax probabilities with an ignore id."""

import keras
from keras import ops

from kseg.losses.base import SegmentationLoss, check_number, pixel_sample_weight


@keras.saving.register_keras_serializable(package="kseg")
class DiceLoss(SegmentationLoss):
    """Soft multi-class Dice loss; ``ignore_id`` pixels are masked out.

    With ``p`` the softmax probabilities and ``g`` the one-hot labels, both
    zeroed at ignored pixels and summed over the whole batch and all pixels::

        dice_c = (2 * sum(p_c * g_c) + smooth) / (sum(p_c) + sum(g_c) + smooth)
        loss   = 1 - sum_c w_c * dice_c / sum_c w_c

    ``w`` is ``class_weights`` (all 1 when None). A class absent from both
    labels and predictions has dice 1; a class absent from the labels but
    predicted is pushed towards 0 probability. A batch whose pixels are all
    ignored gives 0. Under ``tf.distribute`` each replica computes Dice on its
    own share of the batch.

    Args:
        smooth: additive smoothing > 0 (default 1.0) that keeps empty classes
            finite.
        ignore_id: label id to skip (default 255), or None.
        class_weights: optional sequence of C non-negative weights, not all 0.
        from_logits: True (default) if ``y_pred`` holds logits.
        name: loss name.
        reduction: ``"sum_over_batch_size"`` (default) or ``"mean"`` (the
            same): Dice is a ratio over the whole batch, with no per-pixel map.

    Call arguments: y_true int ``(B, H, W)``, y_pred float ``(B, H, W, C)``;
    ``sample_weight`` (broadcastable to ``(B, H, W)``) weights each pixel's
    contribution to the sums. Returns a float32 scalar.
    """

    REDUCTIONS = ("sum_over_batch_size", "mean")

    def __init__(self, smooth=1.0, ignore_id=255, class_weights=None, from_logits=True,
                 name="dice", reduction="sum_over_batch_size"):
        super().__init__(ignore_id=ignore_id, class_weights=class_weights,
                         from_logits=from_logits, name=name, reduction=reduction)
        smooth = check_number("smooth", smooth, inclusive=False)
        if self.class_weights is not None and sum(self.class_weights) == 0:
            raise ValueError("class_weights must not all be 0.")
        self.smooth = smooth

    def compute(self, y_true, y_pred, sample_weight=None):
        labels, valid, log_probs = self.prepare(y_true, y_pred)
        num_classes = log_probs.shape[-1]
        if sample_weight is not None:
            valid = valid * pixel_sample_weight(sample_weight, len(valid.shape))
        valid = ops.expand_dims(valid, -1)
        probs = ops.exp(log_probs) * valid
        onehot = ops.one_hot(labels, num_classes, dtype="float32") * valid
        axes = tuple(range(len(probs.shape) - 1))
        intersection = ops.sum(probs * onehot, axis=axes)
        cardinality = ops.sum(probs, axis=axes) + ops.sum(onehot, axis=axes)
        dice = (2.0 * intersection + self.smooth) / (cardinality + self.smooth)
        if self.class_weights is None:
            return 1.0 - ops.mean(dice)
        weights = ops.convert_to_tensor(self.class_weights, "float32")
        return 1.0 - ops.sum(weights * dice) / ops.sum(weights)

    def get_config(self):
        return {**super().get_config(), "smooth": self.smooth}
