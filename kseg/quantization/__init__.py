"""Int8 quantization of kseg models: what the TFLite converter does to a model, and how to steer it.

* ``lower_for_int8``: an inference clone whose PReLUs and unfoldable batch
  norms become ops that int8 runtimes (XNNPACK) run fast and exactly:
  1x1 depthwise convolutions with per-channel weights, a fused ReLU, an add.
* ``debug_quantization``: per-layer error of the int8 conversion
  (TFLite's ``QuantizationDebugger``), worst first; ``write_report``.
* ``SelectiveQuantizer``: int8 files with named layers left float, and
  ``auto``: the fewest worst-ranked layers that reach a class agreement.
* ``quantize_aware``: quantization-aware training (fake int8 weights and
  activations where the converter quantizes); ``strip_quantization``: the
  float model the exporter converts.
* ``Int8Plan``: what ``kseg.export.export_tflite(quantize="int8")`` asks of
  this package; ``embed_record`` / ``read_record``: the file's
  ``kseg_quantization`` metadata (lowered layers, layers kept float).

Sits below ``kseg.export`` (the exporter asks it how to quantize); models
never import it.
"""

from kseg.quantization.calibration import MAX_REPRESENTATIVE_IMAGES, representative_images
from kseg.quantization.debugger import ROUNDING_ONLY, debug_quantization, format_markdown, write_report
from kseg.quantization.lowering import LoweredPReLU, lower_for_int8, lowered_layers
from kseg.quantization.qat import (
    ActivationQuantizer,
    QuantConv2D,
    QuantConv2DTranspose,
    QuantDepthwiseConv2D,
    is_quantize_aware,
    quantize_aware,
    strip_quantization,
)
from kseg.quantization.plan import Int8Plan, embed_record, read_record, split_held_back
from kseg.quantization.selective import SelectiveQuantizer, check_keep_float, float_layers_of

__all__ = [
    "ActivationQuantizer",
    "QuantConv2D",
    "QuantConv2DTranspose",
    "QuantDepthwiseConv2D",
    "is_quantize_aware",
    "quantize_aware",
    "strip_quantization",
    "MAX_REPRESENTATIVE_IMAGES",
    "Int8Plan",
    "ROUNDING_ONLY",
    "LoweredPReLU",
    "SelectiveQuantizer",
    "check_keep_float",
    "debug_quantization",
    "embed_record",
    "float_layers_of",
    "format_markdown",
    "lower_for_int8",
    "lowered_layers",
    "read_record",
    "representative_images",
    "split_held_back",
    "write_report",
]
