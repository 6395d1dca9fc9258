"""Sparse categorical cross-entropy on logits with an ignore id."""

import keras

from kseg.losses.base import PixelwiseLoss, true_class_log_prob


@keras.saving.register_keras_serializable(package="kseg")
class CrossEntropy(PixelwiseLoss):
    """Sparse categorical cross-entropy that skips ``ignore_id`` pixels.

    With ``ce_i = -log softmax(y_pred_i)[y_i]``, ``w`` the class weights (all 1
    when ``class_weights`` is None) and ``N_valid`` the number of pixels whose
    label is not ``ignore_id``::

        loss = sum_{i valid} w[y_i] * ce_i / N_valid

    (torchvision / DeepLab normalisation; PyTorch's weighted
    ``CrossEntropyLoss`` would divide by ``sum_i w[y_i]`` instead). A batch
    whose pixels are all ignored gives exactly 0.

    Args:
        ignore_id: label id to skip (default 255), or None.
        class_weights: optional sequence of C non-negative per-class weights.
        from_logits: True (default) if ``y_pred`` holds logits.
        name: loss name.
        reduction: Keras's reduction names; see ``PixelwiseLoss``.

    Call arguments:
        y_true: int ``(B, H, W)`` or ``(B, H, W, 1)`` class ids.
        y_pred: float ``(B, H, W, C)`` logits (any float dtype; computed in float32).
        sample_weight: optional weights broadcastable to ``(B, H, W)``
            (``(B,)`` weights whole images).

    Returns a float32 scalar.
    """

    def __init__(self, ignore_id=255, class_weights=None, from_logits=True, name="cross_entropy",
                 reduction="sum_over_batch_size"):
        super().__init__(ignore_id=ignore_id, class_weights=class_weights,
                         from_logits=from_logits, name=name, reduction=reduction)

    def pixel_losses(self, labels, log_probs):
        return -true_class_log_prob(labels, log_probs)
