"""Segmentation metrics on a streaming confusion matrix, plus NumPy reports.

Keras metrics (usable in ``model.compile(metrics=...)``, under XLA and
``tf.distribute``): ``ConfusionMatrix``, ``MeanIoU`` (name "miou"),
``PerClassIoU``, ``PixelAccuracy``, ``MeanAccuracy``. NumPy helpers:
``confusion_matrix`` and ``report_from_confusion``.
"""

from kseg.metrics.boundary import BoundaryIoU, boundary_confusion_matrix, boundary_iou, boundary_mask
from kseg.metrics.confusion_matrix import ConfusionMatrix, batch_confusion_matrix
from kseg.metrics.mean_accuracy import MeanAccuracy
from kseg.metrics.mean_iou import MeanIoU
from kseg.metrics.per_class_iou import PerClassIoU
from kseg.metrics.pixel_accuracy import PixelAccuracy
from kseg.metrics.report import confusion_matrix, report_from_confusion

__all__ = [
    "BoundaryIoU", "boundary_confusion_matrix", "boundary_iou", "boundary_mask",
    "ConfusionMatrix", "MeanAccuracy", "MeanIoU", "PerClassIoU", "PixelAccuracy",
    "batch_confusion_matrix", "confusion_matrix", "report_from_confusion",
]
