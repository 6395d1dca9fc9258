"""Builtin-ops-only TFLite export of a segmentation model.

The .tflite has one signature, ``serving_default``: ``images`` uint8
``[1, H, W, C]`` (raw RGB, what a camera app has) -> ``classes`` int32
``[1, H, W]`` and ``scores`` float32 ``[1, H, W, num_classes]`` (logits;
softmax them for probabilities), in that order: MediaPipe's
``ImageSegmenter`` reads the last output as per-class confidences, so the
file works there as it is (``include_scores=False`` drops ``scores`` and
with it MediaPipe support). Normalisation and any resize the model needs
run inside the graph. The file carries TFLite metadata (input
description, output descriptions, the class names as ``labels.txt``; see
``kseg.export.tflite_metadata``).
"""

import contextlib
import os
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

from kseg import _compat
from kseg._io import atomic_write_bytes
from kseg.export import _graph
from kseg.export._contract import QUANTIZATIONS, SCORES, labels_path_for  # noqa: F401  (public here too)
from kseg.export._graph import check_input_size, spec_for_size  # noqa: F401  (public here too)
from kseg.export import tflite_metadata
from kseg.export.labels import resolve_class_names, write_labels
from kseg.models.tiling import check_overlap, check_tile_size, with_tiling
from kseg import quantization
from kseg.quantization.calibration import MAX_REPRESENTATIVE_IMAGES, representative_images  # noqa: F401  (public here too)
from kseg.serving import signatures as sig

def tflite_ops(model):
    """Operator names used by a TFLite model (path or bytes).

    Builtin operators appear by name (``CONV_2D``); anything else as
    ``CUSTOM:<name>`` (Flex ops are ``CUSTOM:Flex...``).
    """
    if isinstance(model, (bytes, bytearray)):
        content = bytes(model)
    else:
        with open(model, "rb") as handle:
            content = handle.read()
    names = _compat.tflite_builtin_operator_names()
    ops = []
    for builtin, custom in _compat.tflite_operator_codes(content):
        if custom is not None or names.get(builtin) == "CUSTOM":
            ops.append(f"CUSTOM:{custom}")
        else:
            ops.append(names.get(builtin, f"BUILTIN_{builtin}"))
    return sorted(set(ops))


@contextlib.contextmanager
def _native_output_captured():
    """Send what C++ code writes to file descriptors 1 and 2 to a buffer while the block runs.

    The converter logs its internal settings (``input_inference_type: FLOAT32``
    for a file that takes uint8); the export states the file's real contract
    instead. Yields a list that holds the captured text after the block.
    """
    captured = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in (1, 2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace"))


def convert_tflite(model, spec, input_size, *, quantize="none", representative=None, include_scores=False,
                   int8_plan=None):
    """Bytes of the builtin-only .tflite (see module docstring).

    ``int8_plan`` (``kseg.quantization.Int8Plan``) makes the int8 bytes from
    this converter: layers kept float, a debug report.
    """

    def serve(images):
        return _graph.logits_to_outputs(_graph.predict_logits(model, spec, images), include_scores=include_scores)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        sig.SERVING_DEFAULT, serve,
        input_signature=[tf.TensorSpec([1, *input_size, spec.channels], tf.uint8, name=sig.IMAGES)],
    )
    with tempfile.TemporaryDirectory(prefix="kseg-tflite-") as saved_model_dir:
        archive.write_out(saved_model_dir, verbose=False)

        def make_converter():  # a fresh one each call: the quantization debugger changes its converter
            converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            if quantize != "none":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if quantize == "fp16":
                converter.target_spec.supported_types = [tf.float16]
            elif quantize == "int8":
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                converter.representative_dataset = lambda: ({sig.IMAGES: image} for image in representative)
            return converter

        try:
            with _native_output_captured():
                if int8_plan is not None and quantize == "int8":
                    content = int8_plan(make_converter, representative)
                else:
                    content = make_converter().convert()
        except Exception as error:  # the converter's own errors are several screens long
            lines = [line for line in str(error).splitlines() if line.strip()]
            detail = "\n".join(lines[-8:])
            raise ValueError(
                f"TFLite conversion of {model.name!r} with builtin ops only (quantize={quantize!r}) failed; "
                f"the model uses operations outside {'TFLITE_BUILTINS_INT8' if quantize == 'int8' else 'TFLITE_BUILTINS'}:\n{detail}"
            ) from error
    custom = [op for op in tflite_ops(content) if op.startswith("CUSTOM:")]
    if custom:
        raise ValueError(f"TFLite model of {model.name!r} contains non-builtin ops {custom}; phones cannot run it.")
    return content


def _with_metadata(content, model, input_size, class_names, quantize):
    """``content`` with its TFLite metadata; checks that ``scores`` (when present) is the last output."""
    from kseg import __version__

    height, width = input_size
    num_classes = len(class_names)
    content, order = tflite_metadata.add_segmenter_metadata(
        content, name=model.name, version=f"kseg {__version__}", input_size=input_size, class_names=class_names,
        description=f"Semantic segmentation into {num_classes} classes (kseg, quantize={quantize!r}); class ids "
                    f"index labels.txt.",
        output_descriptions={
            sig.CLASSES: f"int32 [1, {height}, {width}]: the class id of every pixel (argmax of scores).",
            SCORES: f"float32 [1, {height}, {width}, {num_classes}]: logits per class (softmax for "
                    "probabilities); MediaPipe's ImageSegmenter reads this output.",
        },
    )
    if SCORES in order and order[-1] != SCORES:
        raise ValueError(f"TFLite outputs came out in the order {order}; MediaPipe reads the last as the "
                         f"segmentation, so {SCORES!r} must be last.")
    return content


def export_tflite(
    model,
    path,
    *,
    input_size=None,
    quantize="none",
    representative_data=None,
    include_scores=True,
    class_names=None,
    size_divisor=None,
    tile_size=None,
    tile_overlap=0.25,
    keep_float=None,
    debug_quantization=False,
    lower_int8="auto",
):
    """Write a builtin-ops-only ``.tflite`` and its labels file.

    Args:
        model: keras model, float32 raw pixels (0..255) -> logits.
        path: output file, must end in ``.tflite``; the labels file goes to
            ``labels_path_for(path)`` (``model.tflite`` -> ``model.labels.txt``).
        input_size: ``(H, W)`` of the exported input; default: the model's
            fixed size (required for fully convolutional models).
        quantize: ``"none"`` (fp32), ``"fp16"`` (fp16 weights),
            ``"dynamic"`` (int8 weights, float activations) or ``"int8"``
            (full integer with ``TFLITE_BUILTINS_INT8``; needs
            ``representative_data``).
        representative_data: calibration images for int8 (see
            ``representative_images``); raw pixel values 0..255.
        include_scores: also output ``scores`` (float32 logits), the last
            output, which MediaPipe's ``ImageSegmenter`` reads (default);
            False writes ``classes`` only (not for MediaPipe).
        class_names: names for the labels file and the file's metadata;
            default ``class_<i>``.
        size_divisor: input-size multiple the model needs; default: probed.
        tile_size: ``(H, W)``: run ``model`` in sliding windows of this size
            over the ``input_size`` image (``kseg.models.with_tiling``; the
            fixed size unrolls into a fixed grid of windows, builtin ops only).
        tile_overlap: fraction of a tile shared by neighbouring windows, in [0, 1).
        keep_float: int8 only: layer names to keep in float32 (a list or
            ``"a,b"``), or ``"auto"``: the fewest worst-ranked layers (by the
            quantization debugger) until the file agrees with the Keras model
            on held-back calibration images >= 99% (``kseg.quantization``).
            The file records them in its ``kseg_quantization`` metadata
            (``kseg.quantization.read_record``).
        debug_quantization: int8 only: also write ``<path stem>.quant_debug.json``
            and ``.md``, the per-layer int8 error ranked worst first.
        lower_int8: int8 only: ``"auto"`` (default) rewrites PReLUs and batch
            norms that no convolution absorbs into int8-friendly ops when the
            model has any (``kseg.quantization.lower_for_int8``; same float
            outputs); True / False: always / never.

    Returns:
        ``path``.
    """
    path = _graph.check_export_target(model, path, ".tflite")
    if quantization.is_quantize_aware(model):  # QAT: the float model of its folded, fake-quantized weights
        model = quantization.strip_quantization(model)
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}.")
    if quantize == "int8" and representative_data is None:
        raise ValueError("quantize='int8' needs representative_data (calibration images, raw pixels 0..255).")
    if tile_size is not None:
        divisor = _graph.inspect_model(model, size_divisor).size_divisor
        model = with_tiling(model, check_tile_size(tile_size), check_overlap(tile_overlap, "tile_overlap"),
                            size_divisor=divisor)
        size_divisor = None
    spec = _graph.inspect_model(model, size_divisor=size_divisor or 1)
    input_size = check_input_size(input_size, spec)
    spec = spec_for_size(model, input_size, size_divisor)
    class_names = resolve_class_names(class_names, spec.num_classes)
    representative, plan = None, None
    if quantize == "int8":
        representative = representative_images(representative_data, input_size, spec.channels)
        model, plan, representative = _int8_plan(model, spec, representative, keep_float=keep_float,
                                                 debug_stem=os.path.splitext(path)[0] if debug_quantization else None,
                                                 lower=lower_int8)
    elif keep_float or debug_quantization:
        raise ValueError(f"keep_float and debug_quantization apply to quantize='int8' only, not {quantize!r}.")
    content = convert_tflite(
        model, spec, input_size, quantize=quantize, representative=representative, include_scores=include_scores,
        int8_plan=plan,
    )
    if plan is not None:
        content = quantization.embed_record(content, plan.record)
    # Last: the metadata step appends the labels as a zip, which re-packing the flatbuffer would drop.
    content = _with_metadata(content, model, input_size, class_names, quantize)
    atomic_write_bytes(path, content)
    write_labels(labels_path_for(path), class_names)
    return path


def _int8_plan(model, spec, representative, *, keep_float, debug_stem, lower):
    """``(model to convert, kseg.quantization.Int8Plan, calibration images)`` of an int8 export."""
    if lower not in ("auto", True, False):
        raise ValueError(f"lower_int8 must be 'auto', True or False, got {lower!r}.")
    names = [layer.name for layer in model.layers]
    lowered = {}
    if lower is True or (lower == "auto" and _compat.is_functional(model)):
        lowered = quantization.lowered_layers(model)
        if lower is True or any(lowered.values()):
            model = quantization.lower_for_int8(model)
    calibration, held_back = quantization.split_held_back(representative, keep_float)
    reference = None
    if held_back:  # the Keras classes "auto" must agree with, through the export's own resize rules
        reference = _graph.predict_logits(model, spec, tf.constant(np.concatenate(held_back))).numpy().argmax(-1)
    plan = quantization.Int8Plan(names, keep_float=keep_float, debug_stem=debug_stem, held_back=held_back,
                                 reference_classes=reference)
    plan.record.update(lowered=lowered)
    return model, plan, calibration
