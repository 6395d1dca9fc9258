"""Overall pixel accuracy."""

import keras

from kseg.metrics.confusion_matrix import ConfusionMatrix
from kseg.metrics.scores import pixel_accuracy


@keras.saving.register_keras_serializable(package="kseg")
class PixelAccuracy(ConfusionMatrix):
    """Correct pixels / counted (non-ignored) pixels: float32 scalar in [0, 1].

    0 before any pixel has been counted. Arguments and inputs as for
    ``ConfusionMatrix``.
    """

    def __init__(self, num_classes, ignore_id=255, name="pixel_accuracy", dtype=None):
        super().__init__(num_classes, ignore_id=ignore_id, name=name, dtype=dtype)

    def score(self, cm):
        return pixel_accuracy(cm)
