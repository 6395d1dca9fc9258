"""Focal loss (Lin et al. 2017) for dense prediction with an ignore id."""

import keras
from keras import ops

from kseg.losses.base import PixelwiseLoss, check_number, true_class_log_prob


@keras.saving.register_keras_serializable(package="kseg")
class FocalLoss(PixelwiseLoss):
    """Multi-class focal loss that skips ``ignore_id`` pixels.

    With ``p_i = softmax(y_pred_i)[y_i]``::

        loss = sum_{i valid} w[y_i] * (1 - p_i)**gamma * (-log p_i) / N_valid

    ``w`` is ``class_weights`` (the per-class alpha of the paper; all 1 when
    None). With ``gamma=0`` and no weights this equals ``CrossEntropy``. A
    batch whose pixels are all ignored gives 0.

    Args:
        gamma: focusing parameter >= 0 (default 2).
        ignore_id: label id to skip (default 255), or None.
        class_weights: optional sequence of C non-negative per-class weights.
        from_logits: True (default) if ``y_pred`` holds logits.
        name: loss name.
        reduction: Keras's reduction names; see ``PixelwiseLoss``.

    Call arguments as for ``CrossEntropy``: y_true int ``(B, H, W)``, y_pred
    float ``(B, H, W, C)``. Returns a float32 scalar.
    """

    def __init__(self, gamma=2.0, ignore_id=255, class_weights=None, from_logits=True,
                 name="focal", reduction="sum_over_batch_size"):
        super().__init__(ignore_id=ignore_id, class_weights=class_weights,
                         from_logits=from_logits, name=name, reduction=reduction)
        gamma = check_number("gamma", gamma)
        self.gamma = gamma

    def pixel_losses(self, labels, log_probs):
        log_p = true_class_log_prob(labels, log_probs)
        # Clamp: exp(log_p) can round slightly above 1 and a negative base with
        # a fractional gamma would be NaN.
        modulator = ops.power(ops.maximum(1.0 - ops.exp(log_p), 0.0), self.gamma)
        return -modulator * log_p

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma}
