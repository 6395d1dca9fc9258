"""Mean intersection-over-union."""

import keras

from kseg.metrics.confusion_matrix import ConfusionMatrix
from kseg.metrics.scores import mean_iou


@keras.saving.register_keras_serializable(package="kseg")
class MeanIoU(ConfusionMatrix):
    """Mean IoU over the classes seen so far, as a float32 scalar in [0, 1].

    ``IoU_c = TP_c / (TP_c + FP_c + FN_c)`` from the streaming confusion
    matrix. Classes absent from both the truth and the predictions of every
    batch seen (union 0) are excluded from the mean rather than counted as 0
    or 1; with no counted pixel at all the result is 0. ``ignore_id`` pixels
    are skipped. Arguments and inputs as for ``ConfusionMatrix``; the default
    name "miou" gives the Keras log key "val_miou".
    """

    def __init__(self, num_classes, ignore_id=255, name="miou", dtype=None):
        super().__init__(num_classes, ignore_id=ignore_id, name=name, dtype=dtype)

    def score(self, cm):
        return mean_iou(cm)
