"""Export for deployment: SavedModel for TF Serving and builtin-only TFLite.

* ``export_saved_model``: ``<base>/<name>/<version>/`` with signatures
  ``serving_default`` (uint8 images) and ``predict_encoded`` (PNG/JPEG
  bytes), warmup requests and labels; published atomically;
  ``tile_size=(H, W)`` serves large images in sliding windows.
* ``write_models_config``: TF Serving ``models.config`` for several models.
* ``export_tflite``: uint8 ``[1, H, W, C]`` -> class map ``[1, H, W]``,
  builtin ops only, fp32/fp16/dynamic/int8.
* ``export_onnx``: the same uint8-in / classes-out contract as ONNX
  (``[N, H, W, C]``, any size unless fixed), on Keras's ONNX export; needs
  the ``onnx`` extra, imported only when called.
* parity: ``saved_model_parity``, ``tflite_parity``, ``tflite_report``.
"""

from kseg.export.labels import read_labels
from kseg.export.models_config import write_models_config
from kseg.export.onnx import export_onnx, onnx_ops, onnx_parity
from kseg.export.parity import (
    class_agreement,
    format_report,
    max_abs_diff,
    mean_iou,
    reference_logits,
    saved_model_parity,
    tflite_parity,
    tflite_report,
)
from kseg.export.saved_model import export_saved_model, list_versions
from kseg.export.tflite import QUANTIZATIONS, export_tflite, labels_path_for, tflite_ops
from kseg.export.warmup import read_warmup_requests

__all__ = [
    "QUANTIZATIONS",
    "class_agreement",
    "export_onnx",
    "export_saved_model",
    "export_tflite",
    "format_report",
    "labels_path_for",
    "list_versions",
    "max_abs_diff",
    "mean_iou",
    "onnx_ops",
    "onnx_parity",
    "read_labels",
    "read_warmup_requests",
    "reference_logits",
    "saved_model_parity",
    "tflite_ops",
    "tflite_parity",
    "tflite_report",
    "write_models_config",
]
