"""IoU of every class as a vector."""

import keras
from keras import ops

from kseg.metrics.confusion_matrix import ConfusionMatrix
from kseg.metrics.scores import per_class_iou


@keras.saving.register_keras_serializable(package="kseg")
class PerClassIoU(ConfusionMatrix):
    """IoU of each class: float32 vector ``(C,)``.

    Classes absent from both truth and predictions so far have an undefined
    IoU and are reported as NaN (``report_from_confusion`` reports them as
    None). Arguments and inputs as for ``ConfusionMatrix``. Keras' progress
    bar shows the mean of the vector; ``kseg.training.TensorBoard`` and
    ``ResumableCSVLogger`` record one value per class (``per_class_iou/0``, ...).
    """

    def __init__(self, num_classes, ignore_id=255, name="per_class_iou", dtype=None):
        super().__init__(num_classes, ignore_id=ignore_id, name=name, dtype=dtype)

    def score(self, cm):
        iou, present = per_class_iou(cm)
        return ops.where(present, iou, float("nan"))
