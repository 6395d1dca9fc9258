"""Per-layer error of an int8 conversion, ranked worst first (TFLite's QuantizationDebugger).

For every quantized op the debugger runs the int8 op and the float op on the
same (dequantized) inputs over the debug images and records the mean squared
error of its output. Divided by the output's quantization step (``scale``),
the root of that error is about 0.29 (= 1/sqrt(12)) when the op only rounds;
far above that, the op clips (a range that calibration got wrong) or loses
precision that rounding alone does not explain (int8 PRELU's one scale for
all slopes). Rows name the Keras layer the tensor belongs to.
"""

import csv
import io
import json
import os
import re
import tempfile

import numpy as np
import tensorflow as tf

from kseg._io import atomic_write_text
from kseg.quantization.calibration import representative_images

# sqrt(mse) / scale of an op that only rounds: a uniform error over one step.
ROUNDING_ONLY = 1 / np.sqrt(12)
REPORT_KEYS = ("rank", "layer", "op", "tensor", "error_over_scale", "rmse", "scale", "zero_point")


class SavedModelConverters:
    """Fresh TFLite converters of one traced function, each from the same temporary SavedModel.

    The debugger changes the converter it is given, so each use needs its
    own; tracing and writing the SavedModel happens once. Call it for a
    converter; ``close()`` (or garbage collection) removes the directory.

    Args:
        model: the keras model whose variables ``serve`` reads.
        serve: ``images -> dict of tensors``.
        input_signature: ``[tf.TensorSpec(..., name="images")]``.
    """

    def __init__(self, model, serve, input_signature):
        import keras

        self._directory = tempfile.TemporaryDirectory(prefix="kseg-quant-")
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", serve, input_signature=input_signature)
        archive.write_out(self._directory.name, verbose=False)

    def __call__(self):
        converter = tf.lite.TFLiteConverter.from_saved_model(self._directory.name)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter

    def close(self):
        self._directory.cleanup()


def float_converter_factory(model, input_size, representative, channels=None):
    """A callable returning a fresh int8 converter of ``model`` (float32 pixels ``[1, H, W, C]`` -> logits)."""
    channels = channels or int(model.inputs[0].shape[-1])
    spec = tf.TensorSpec([1, *input_size, channels], tf.float32, name="images")
    converters = SavedModelConverters(model, lambda images: {"logits": model(images, training=False)}, [spec])

    def make():
        return configure_int8(converters(), representative, dtype=np.float32)

    make.close = converters.close
    return make


def configure_int8(converter, representative, *, dtype=None):
    """Full-integer settings on ``converter``: builtin int8 ops, ``representative`` ([1,H,W,C] arrays,
    fed as the signature input ``images``) to calibrate; ``dtype`` casts each image (float32 for a
    float-input graph)."""
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

    def dataset():
        for image in representative:
            image = image if dtype is None else image.astype(dtype)
            yield {"images": image}

    converter.representative_dataset = dataset
    return converter


def layers_of_tensor(tensor_name, layer_names):
    """The Keras layers a TFLite tensor name belongs to (a set; empty when none).

    Tensor names are ``;``-joined TF op paths such as
    ``dabnet_1/stem_conv1_1/convolution`` (one path per op fused into the
    tensor's op: a convolution and its folded batch norm): a path part equal
    to a layer name, or to a layer name plus the ``_<n>`` suffix that
    tracing adds, names a layer.
    """
    names = set(layer_names)
    matches = set()
    for piece in tensor_name.split(";"):
        for part in re.split(r"[/:]", piece):
            if part in names:
                matches.add(part)
            elif (stripped := re.sub(r"_\d+$", "", part)) in names:
                matches.add(stripped)
    return matches


def layer_of_tensor(tensor_name, layer_names):
    """The longest layer name of ``layers_of_tensor`` (the batch norm of a folded pair), else ''."""
    matches = layers_of_tensor(tensor_name, layer_names)
    return max(matches, key=len) if matches else ""


def interpreter_for(content):
    """An ai-edge-litert interpreter of a TFLite model (bytes); TensorFlow's when it is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=content, num_threads=2)


def op_output_layers(content, layer_names):
    """``{output tensor name: layers}`` for every op of a TFLite model (bytes).

    An output named after the signature (``StatefulPartitionedCall:1``) or
    the converter names no layer: the op's weights (constant inputs) do.
    """
    interpreter = interpreter_for(content)
    tensors = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    owners = {}
    for op in interpreter._get_ops_details():  # the runtime's only per-op view
        outputs = [tensors[i]["name"] for i in op["outputs"] if i in tensors]
        layers = set().union(*(layers_of_tensor(name, layer_names) for name in outputs)) if outputs else set()
        if not layers:
            for index in op["inputs"]:
                if index in tensors and tensors[index]["name"] not in owners:  # constants, not activations
                    layers |= layers_of_tensor(tensors[index]["name"], layer_names)
        for name in outputs:
            owners[name] = layers
    return owners


def _statistics(debugger):
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    buffer.seek(0)
    return list(csv.DictReader(buffer))


def ranked_rows(statistics, layer_names, owners=None):
    """Rows of ``layer_statistics_dump`` as dicts (``REPORT_KEYS``), worst ``error_over_scale`` first.

    ``owners``: ``op_output_layers`` of the quantized model, for tensors whose name names no layer.
    """
    owners = owners or {}
    rows = []
    for row in statistics:
        scale = float(row["scale"])
        mse = float(row["mean_squared_error"])
        if not np.isfinite(mse) or scale <= 0:
            continue
        rmse = float(np.sqrt(mse))
        layer = layer_of_tensor(row["tensor_name"], layer_names)
        if not layer and owners.get(row["tensor_name"]):
            layer = max(owners[row["tensor_name"]], key=len)
        rows.append({
            "layer": layer,
            "op": row.get("op_name", ""),
            "tensor": row["tensor_name"],
            "error_over_scale": rmse / scale,
            "rmse": rmse,
            "scale": scale,
            "zero_point": int(float(row["zero_point"])),
        })
    rows.sort(key=lambda r: -r["error_over_scale"])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return [{key: row[key] for key in REPORT_KEYS} for row in rows]


def run_debugger(converter_factory, debug_images, *, dtype=None, options=None):
    """A ``QuantizationDebugger`` over a fresh converter, run on ``debug_images`` (``[1,H,W,C]`` arrays)."""

    def dataset():
        for image in debug_images:
            image = image if dtype is None else image.astype(dtype)
            yield [image]  # the debugger feeds inputs by position

    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter_factory(), debug_dataset=dataset, debug_options=options)
    return debugger


def debug_quantization(model, representative_data, input_size=None, *, debug_data=None, converter_factory=None,
                       input_dtype=None):
    """Per-layer int8 quantization error of ``model``, worst first.

    Args:
        model: keras model, float32 raw pixels ``(B, H, W, C)`` 0..255 -> logits.
        representative_data: calibration images (pixel values 0..255; see
            ``kseg.quantization.representative_images``).
        input_size: ``(H, W)`` of the conversion; default the model's fixed size.
        debug_data: images the errors are measured on; default the calibration images.
        converter_factory: zero-argument callable returning a fresh int8
            converter (``kseg.export`` passes the one of its file); default
            ``float_converter_factory(model, ...)``.
        input_dtype: dtype the ``converter_factory``'s graph takes (uint8 for a kseg .tflite graph).

    Returns:
        list of dicts with ``REPORT_KEYS``: ``error_over_scale`` is
        ``sqrt(mse) / scale`` of the op's output (about 0.29 when it only
        rounds), ``layer`` the Keras layer the tensor belongs to ('' when
        none, e.g. the converter's own ops).
    """
    channels = int(model.inputs[0].shape[-1])
    if input_size is None:
        input_size = tuple(model.inputs[0].shape[1:3])
        if None in input_size:
            raise ValueError(f"debug_quantization: model {model.name!r} takes any size; pass input_size=(H, W).")
    input_size = tuple(int(v) for v in input_size)
    representative = representative_images(representative_data, input_size, channels)
    debug_images = representative if debug_data is None else representative_images(debug_data, input_size, channels)
    dtype = input_dtype
    if converter_factory is None:
        converter_factory = float_converter_factory(model, input_size, representative, channels)
        dtype = np.float32
    debugger = run_debugger(converter_factory, debug_images, dtype=dtype)
    debugger.run()
    names = [layer.name for layer in model.layers]
    return ranked_rows(_statistics(debugger), names, op_output_layers(debugger.quant_model, names))


def format_markdown(rows, *, title="Int8 quantization error per layer", top=None):
    """A Markdown table of ``debug_quantization`` rows (``top``: first N only)."""
    shown = rows[:top] if top else rows
    lines = [f"# {title}", "",
             f"sqrt(mse) / scale of each quantized op's output, worst first; {ROUNDING_ONLY:.2f} = rounding only.",
             "", "| rank | layer | op | error / scale | rmse | scale | tensor |", "|---:|---|---|---:|---:|---:|---|"]
    for row in shown:
        tensor = row["tensor"] if len(row["tensor"]) <= 80 else row["tensor"][:77] + "..."
        lines.append(f"| {row['rank']} | {row['layer'] or '-'} | {row['op']} | {row['error_over_scale']:.3f} | "
                     f"{row['rmse']:.4g} | {row['scale']:.4g} | `{tensor}` |")
    return "\n".join(lines) + "\n"


def write_report(rows, path_stem):
    """Write ``<path_stem>.quant_debug.json`` and ``.md``; return both paths."""
    json_path, md_path = f"{path_stem}.quant_debug.json", f"{path_stem}.quant_debug.md"
    atomic_write_text(json_path, json.dumps({"rounding_only": ROUNDING_ONLY, "layers": rows}, indent=2) + "\n")
    atomic_write_text(md_path, format_markdown(rows, title=f"Int8 quantization error per layer: {os.path.basename(path_stem)}"))
    return json_path, md_path
