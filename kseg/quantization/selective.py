"""Selective int8: keep named Keras layers in float inside an otherwise full-integer TFLite file.

One calibration (TFLite's ``QuantizationDebugger`` over the converter), then
``mlir_quantize`` with the layers' tensors on its deny list
(``QuantizationDebugOptions(denylisted_nodes=...)``): those ops stay float32
with QUANTIZE/DEQUANTIZE around them. Chosen over AI Edge Quantizer's regex
scopes because it needs no extra dependency and maps tensors to layers with
the same names the debugger report shows (reports/quantization.md).
"""

import numpy as np
import tensorflow as tf

from kseg.quantization.debugger import _statistics, interpreter_for, op_output_layers, ranked_rows

# "auto" stops adding float layers when the file agrees this well with the Keras model.
AUTO_TARGET_AGREEMENT = 0.99
# ... or when this many layers are float (then the best file found is kept).
AUTO_MAX_LAYERS = 16
# Ops at the int8/float boundary or the graph's ends: float outputs there say nothing about a layer.
_BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE", "CAST", "ARG_MAX")


def float_layers_of(content, layer_names):
    """Sorted names of the layers that some op of the file computes in float32 (a .tflite's bytes)."""
    interpreter = interpreter_for(content)
    tensors = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    owners = op_output_layers(content, layer_names)
    floats = set()
    for op in interpreter._get_ops_details():  # the runtime's only per-op view
        if op["op_name"] in _BOUNDARY_OPS or not len(op["outputs"]):
            continue
        output = tensors[op["outputs"][0]]
        if output["dtype"] == np.float32:
            floats |= owners.get(output["name"], set())
    return sorted(floats)


def check_keep_float(keep_float, layer_names):
    """``keep_float`` as a list of layer names; unknown names fail with the known ones."""
    if isinstance(keep_float, str):
        keep_float = [name.strip() for name in keep_float.split(",") if name.strip()]
    keep_float = list(keep_float)
    unknown = [name for name in keep_float if name not in set(layer_names)]
    if unknown:
        raise ValueError(f"keep_float: no layer named {', '.join(map(repr, unknown))} in the model "
                         f"(layers: {', '.join(layer_names)}).")
    return keep_float


class SelectiveQuantizer:
    """One calibration of ``converter_factory()``, then int8 files with chosen layers left float.

    Args:
        converter_factory: zero-argument callable returning a fresh converter
            set up for int8 (optimizations, representative dataset, int8 ops).
        layer_names: the Keras model's layer names.
        debug_images: ``[1,H,W,C]`` arrays for ``ranking()`` (error per layer).
        input_dtype: dtype the graph's input takes (cast applied to debug images).
    """

    def __init__(self, converter_factory, layer_names, debug_images=(), input_dtype=None):
        images = list(debug_images)

        def dataset():
            for image in images:
                yield [image if input_dtype is None else image.astype(input_dtype)]

        self.layer_names = list(layer_names)
        self._debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter_factory(), debug_dataset=dataset)
        # Deny-listed names must be those of the calibrated float graph (the debug model renames tensors).
        self._owners = op_output_layers(self._debugger.calibrated_model, self.layer_names)
        self._ranking = None

    def nodes_of(self, layers):
        """Names of the op outputs of the calibrated graph that belong to ``layers``."""
        wanted = set(layers)
        return [name for name, owners in self._owners.items() if owners & wanted]

    def convert(self, keep_float=()):
        """Bytes of the int8 file with ``keep_float`` layers in float32."""
        nodes = self.nodes_of(keep_float)
        self._debugger.options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=nodes or None, fully_quantize=True)
        return self._debugger.get_nondebug_quantized_model()

    def ranking(self):
        """``debug_quantization`` rows of this calibration, worst first."""
        if self._ranking is None:
            self._debugger.options = tf.lite.experimental.QuantizationDebugOptions()
            self._debugger.run()
            owners = op_output_layers(self._debugger.quant_model, self.layer_names)
            self._ranking = ranked_rows(_statistics(self._debugger), self.layer_names, owners)
        return self._ranking

    def worst_layers(self):
        """Distinct layer names in ranking order (tensors with no layer skipped)."""
        seen = []
        for row in self.ranking():
            if row["layer"] and row["layer"] not in seen:
                seen.append(row["layer"])
        return seen

    def auto(self, agreement_of, *, target=AUTO_TARGET_AGREEMENT, max_layers=AUTO_MAX_LAYERS):
        """Fewest worst-ranked layers kept float so that ``agreement_of(content) >= target``.

        Tries 0, 1, 2, 4, ... worst layers (at most ``max_layers``), then
        narrows between the last two counts. Returns ``(content, kept_layers,
        agreement, tried)``: the first file reaching the target, else the
        best one; ``tried`` lists ``(count, agreement)``.
        """
        worst = self.worst_layers()[:max_layers]
        tried, results = [], {}

        def attempt(count):
            content = self.convert(worst[:count])
            results[count] = (content, agreement_of(content))
            tried.append((count, results[count][1]))
            return results[count][1] >= target

        count, low = 0, None
        while not attempt(count):
            low = count
            if count >= len(worst):
                best = max(results, key=lambda k: (results[k][1], -k))
                return results[best][0], worst[:best], results[best][1], tried
            count = min(max(1, 2 * count), len(worst))
        high = count
        while low is not None and high - low > 1:  # fewest layers between the last miss and the hit
            middle = (low + high) // 2
            if attempt(middle):
                high = middle
            else:
                low = middle
        return results[high][0], worst[:high], results[high][1], tried
