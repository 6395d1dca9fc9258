"""A weighted sum of losses, e.g. cross-entropy + Dice."""

import keras

from kseg.losses.base import check_number


@keras.saving.register_keras_serializable(package="kseg")
class WeightedSum(keras.losses.Loss):
    """``sum_k weight_k * loss_k(y_true, y_pred, sample_weight)``.

    Args:
        losses: non-empty sequence of ``(loss, weight)`` pairs; ``loss`` is a
            ``keras.losses.Loss`` instance (kseg or Keras) and ``weight`` a
            finite number >= 0.
        name: loss name.
        reduction: ``"sum_over_batch_size"`` (default) keeps each term's own
            reduction; any other of Keras's names is given to every term
            (``"none"``: the weighted sum of the per-pixel maps).

    Each term keeps its own normalisation (and its own division by the
    replicas in sync under ``tf.distribute``). Returns a float32 scalar.
    """

    def __init__(self, losses, name="weighted_sum", reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction, dtype="float32")
        try:
            pairs = [tuple(pair) for pair in losses]
        except TypeError:
            raise ValueError(
                f"losses must be a sequence of (loss, weight) pairs, got {losses!r}."
            ) from None
        if not pairs:
            raise ValueError("losses must contain at least one (loss, weight) pair.")
        terms = []
        for pair in pairs:
            if len(pair) != 2:
                raise ValueError(f"Each entry of losses must be a (loss, weight) pair, got {pair!r}.")
            loss, weight = pair
            if isinstance(loss, dict):
                loss = keras.saving.deserialize_keras_object(loss)
            if not isinstance(loss, keras.losses.Loss):
                raise ValueError(f"Each loss must be a keras.losses.Loss instance, got {loss!r}.")
            weight = check_number("weight", weight, what="Loss weight")
            if reduction != "sum_over_batch_size":
                loss = type(loss).from_config({**loss.get_config(), "reduction": reduction})
            terms.append((loss, weight))
        self.losses = terms

    def __call__(self, y_true, y_pred, sample_weight=None):
        total = None
        for loss, weight in self.losses:
            term = weight * keras.ops.cast(loss(y_true, y_pred, sample_weight), "float32")
            total = term if total is None else total + term
        return total

    def get_config(self):
        config = {
            "name": self.name,
            "losses": [
                [keras.saving.serialize_keras_object(loss), weight] for loss, weight in self.losses
            ],
        }
        if self.reduction != "sum_over_batch_size":
            config["reduction"] = self.reduction
        return config
