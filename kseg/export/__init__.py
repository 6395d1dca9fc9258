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
* parity: ``saved_model_parity``, ``tflite_parity``, ``onnx_parity`` (one
  body: ``runtime_parity``), ``tflite_report``; ``size_mb`` (10^6 bytes).
* ``_contract`` holds what every format shares without TensorFlow
  (``SCORES``, ``labels_path_for``, ``size_mb``, output-path checks), so the
  light runner ``tflite_runtime`` imports no converter.
"""

import importlib

# Public name -> the module that defines it. Modules load on first use, so
# ``kseg.export.tflite_runtime`` (the light runner) does not pull in the
# TFLite converter, ONNX, or the tiling model.
_EXPORTS = {
    "read_labels": "labels",
    "write_models_config": "models_config",
    "export_onnx": "onnx", "onnx_ops": "onnx", "onnx_parity": "onnx",
    "class_agreement": "parity", "format_report": "parity", "max_abs_diff": "parity", "mean_iou": "parity",
    "reference_logits": "parity", "runtime_parity": "parity", "saved_model_parity": "parity",
    "tflite_parity": "parity", "tflite_report": "parity",
    "export_saved_model": "saved_model", "list_versions": "saved_model",
    "export_tflite": "tflite", "tflite_ops": "tflite",
    "QUANTIZATIONS": "_contract", "SCORES": "_contract", "labels_path_for": "_contract", "size_mb": "_contract",
    "read_warmup_requests": "warmup",
}


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"kseg.export.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    try:  # ``kseg.export.tflite`` and the other submodules, as attributes
        return importlib.import_module(f"kseg.export.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"kseg.export.{name}":
            raise
    raise AttributeError(f"module 'kseg.export' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "QUANTIZATIONS",
    "SCORES",
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
    "runtime_parity",
    "saved_model_parity",
    "size_mb",
    "tflite_ops",
    "tflite_parity",
    "tflite_report",
    "write_models_config",
]
