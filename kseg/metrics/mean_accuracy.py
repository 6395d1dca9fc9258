"""Class-mean pixel accuracy."""

import keras

from kseg.metrics.confusion_matrix import ConfusionMatrix
from kseg.metrics.scores import mean_accuracy


@keras.saving.register_keras_serializable(package="kseg")
class MeanAccuracy(ConfusionMatrix):
    """Mean over classes of per-class accuracy (recall): float32 scalar in [0, 1].

    ``acc_c = TP_c / (pixels whose truth is c)``. Classes absent from the
    truth so far have an undefined accuracy and are excluded from the mean
    (this includes classes absent from both truth and prediction); with no
    counted pixel the result is 0. Arguments and inputs as for
    ``ConfusionMatrix``.
    """

    def __init__(self, num_classes, ignore_id=255, name="mean_accuracy", dtype=None):
        super().__init__(num_classes, ignore_id=ignore_id, name=name, dtype=dtype)

    def score(self, cm):
        return mean_accuracy(cm)
