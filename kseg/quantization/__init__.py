"""Int8 quantization of kseg models: what the TFLite converter does to a model, and how to steer it.

* ``lower_for_int8``: an inference clone whose PReLUs and unfoldable batch
  norms become ops that int8 runtimes (XNNPACK) run fast and exactly:
  1x1 depthwise convolutions with per-channel weights, a fused ReLU, an add.
* ``debug_quantization``: per-layer error of the int8 conversion
  (TFLite's ``QuantizationDebugger``), worst first; ``write_report``.
* ``SelectiveQuantizer``: int8 files with named layers left float, and
  ``auto``: the fewest worst-ranked layers that reach a class agreement.

Sits below ``kseg.export`` (the exporter asks it how to quantize); models
never import it.
"""

from kseg.quantization.calibration import MAX_REPRESENTATIVE_IMAGES, representative_images
from kseg.quantization.debugger import ROUNDING_ONLY, debug_quantization, format_markdown, write_report
from kseg.quantization.lowering import LoweredPReLU, lower_for_int8, lowered_layers
from kseg.quantization.selective import SelectiveQuantizer, check_keep_float, float_layers_of

__all__ = [
    "MAX_REPRESENTATIVE_IMAGES",
    "ROUNDING_ONLY",
    "LoweredPReLU",
    "SelectiveQuantizer",
    "check_keep_float",
    "debug_quantization",
    "float_layers_of",
    "format_markdown",
    "lower_for_int8",
    "lowered_layers",
    "representative_images",
    "write_report",
]
