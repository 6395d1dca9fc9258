"""Numbers that prove an exported model still gives the Keras model's answers."""

import os
import tempfile
import time

import numpy as np
import tensorflow as tf

from kseg.export import _graph
from kseg.export._contract import SCORES, size_mb
from kseg.serving import signatures as sig


def max_abs_diff(reference, other):
    """Largest absolute elementwise difference of two same-shape arrays."""
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if reference.shape != other.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {other.shape}.")
    return float(np.max(np.abs(reference - other))) if reference.size else 0.0


def class_agreement(reference, other):
    """Percentage (0..100) of pixels whose class ids are equal."""
    reference, other = np.asarray(reference), np.asarray(other)
    if reference.shape != other.shape:
        raise ValueError(f"class map shapes differ: {reference.shape} vs {other.shape}.")
    if reference.size == 0:
        raise ValueError("class maps are empty.")
    return float(np.mean(reference == other) * 100.0)


def mean_iou(predicted, target, num_classes, ignore_id=255):
    """Mean IoU over classes present in target or prediction (NumPy in, float out).

    The one definition of ``kseg.metrics`` (``scores.mean_iou`` of the
    confusion matrix): a class absent from both truth and prediction does not
    count, and when no class counts (every pixel ignored) the result is 0.0,
    as the training metric reports it, not NaN.

    Args:
        predicted: int class ids, any shape.
        target: int class ids shaped like ``predicted``; ``ignore_id`` pixels are skipped.
        num_classes: C.
    """
    from kseg.metrics import confusion_matrix, scores

    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape:
        raise ValueError(f"mean_iou: predicted {predicted.shape} and target {target.shape} differ in shape.")
    cm = confusion_matrix(target.reshape(1, -1), predicted.reshape(1, -1), num_classes, ignore_id)
    return float(scores.mean_iou(cm))


def check_images(images):
    """``images`` as a uint8 ``[N, H, W, C]`` array, or a ValueError saying what they are."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 [N, H, W, C], got {images.dtype} {images.shape}.")
    return images


def reference_logits(model, images, size_divisor=None):
    """Keras logits float32 ``[N, H, W, K]`` for uint8 ``images``, through the
    same resize rules the exports use (inference mode)."""
    images = check_images(images)
    spec = _graph.inspect_model(model, size_divisor)
    return _graph.predict_logits(model, spec, tf.constant(images)).numpy()


def saved_model_parity(model, export_dir, images):
    """Compare ``serving_default`` of an exported version with the Keras model.

    Returns:
        dict: ``class_agreement_pct``, ``max_abs_probability_diff`` (None when
        probabilities were not exported), ``num_pixels``.
    """
    images = check_images(images)
    loaded = tf.saved_model.load(os.fspath(export_dir))
    outputs = loaded.signatures[sig.SERVING_DEFAULT](**{sig.IMAGES: tf.constant(images)})
    logits = reference_logits(model, images)
    result = {
        "class_agreement_pct": class_agreement(logits.argmax(-1), outputs[sig.CLASSES].numpy()),
        "max_abs_probability_diff": None,
        "num_pixels": int(np.prod(images.shape[:3])),
    }
    if sig.PROBABILITIES in outputs:
        probabilities = tf.nn.softmax(logits, axis=-1).numpy()
        result["max_abs_probability_diff"] = max_abs_diff(probabilities, outputs[sig.PROBABILITIES].numpy())
    return result


def runtime_parity(model, path, images, run, *, runtime, num_threads=1, masks=None, ignore_id=255, min_runs=10):
    """Compare an exported file, run by ``run``, with the Keras model: the body of every ``*_parity``.

    Args:
        model: the Keras model that was exported.
        path: the exported file (its size is reported).
        images: uint8 ``[N, H, W, C]``.
        run: uint8 ``[n, H, W, C]`` -> dict with int32 ``classes [n, H, W]``
            and, when the file has them, float32 ``scores [n, H, W, K]``.
        runtime: names the mIoU key of the file (``miou_<runtime>``).
        num_threads: reported as given (``run`` already uses them).
        masks: optional int32 ``[N, H, W]`` ground truth for the mIoU of both.
        min_runs: timed batch-1 runs (cycling through images), at least.

    Returns:
        dict: ``class_agreement_pct``, ``max_abs_logit_diff`` (None unless
        the file outputs ``scores``), ``latency_ms`` (median, batch 1),
        ``size_mb`` (``size_mb(path)``: 10^6 bytes), ``num_threads``, and
        with masks ``miou_keras``, ``miou_<runtime>``, ``miou_drop``.
    """
    images = check_images(images)
    outputs = run(images)
    timings = []
    for i in range(max(min_runs, len(images))):
        start = time.perf_counter()
        run(images[i % len(images)][None])
        timings.append((time.perf_counter() - start) * 1000.0)
    classes = outputs[sig.CLASSES]
    logits = reference_logits(model, images)
    report = {
        "class_agreement_pct": class_agreement(logits.argmax(-1), classes),
        "max_abs_logit_diff": max_abs_diff(logits, outputs[SCORES]) if SCORES in outputs else None,
        "latency_ms": float(np.median(timings)),
        "size_mb": size_mb(path),
        "num_threads": num_threads,
    }
    if masks is not None:
        masks = np.asarray(masks)
        num_classes = logits.shape[-1]
        report["miou_keras"] = mean_iou(logits.argmax(-1), masks, num_classes, ignore_id)
        report[f"miou_{runtime}"] = mean_iou(classes, masks, num_classes, ignore_id)
        report["miou_drop"] = report["miou_keras"] - report[f"miou_{runtime}"]
    return report


def tflite_parity(model, tflite_path, images, *, num_threads=1, masks=None, ignore_id=255, min_runs=10):
    """Run a kseg .tflite (``TFLiteRunner``: ai-edge-litert) and compare it with the Keras model.

    Args:
        model: the Keras model that was exported.
        tflite_path: the ``.tflite`` from ``export_tflite``.
        images: uint8 ``[N, H, W, C]`` at the .tflite's input size (another
            size is refused).
        num_threads: interpreter threads.
        masks, ignore_id, min_runs: see ``runtime_parity``.

    Returns:
        dict of ``runtime_parity``, mIoU key ``miou_tflite``.
    """
    from kseg.export.tflite_runtime import TFLiteRunner

    runner = TFLiteRunner(tflite_path, num_threads=num_threads)
    return runtime_parity(model, tflite_path, images, runner.outputs, runtime="tflite", num_threads=num_threads,
                          masks=masks, ignore_id=ignore_id, min_runs=min_runs)


def tflite_report(
    model, images, *, quantizations=("none", "fp16", "dynamic", "int8"), representative_data=None,
    masks=None, threads=(1, 2), ignore_id=255,
):
    """Export ``model`` at the images' size once per quantization and measure it.

    Returns:
        list of dicts (one per quantization x thread count): ``quantize``
        plus the fields of ``tflite_parity``.
    """
    from kseg.export.tflite import export_tflite

    images = check_images(images)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kseg-report-") as workdir:
        for quantize in quantizations:
            path = os.path.join(workdir, f"{quantize}.tflite")
            export_tflite(
                model, path, input_size=images.shape[1:3], quantize=quantize, include_scores=True,
                representative_data=(images if representative_data is None else representative_data)
                if quantize == "int8" else None,
            )
            for num_threads in threads:
                row = tflite_parity(model, path, images, num_threads=num_threads, masks=masks, ignore_id=ignore_id)
                rows.append({"quantize": quantize, **row})
    return rows


def format_report(rows, title=None):
    """Markdown table of ``tflite_report`` rows."""
    has_miou = any("miou_drop" in row for row in rows)
    header = ["quantize", "threads", "size MB", "latency ms", "max |logit diff|", "class agreement %"]
    if has_miou:
        header += ["mIoU keras", "mIoU tflite", "mIoU drop"]
    lines = ([f"**{title}**", ""] if title else []) + ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        diff = row["max_abs_logit_diff"]
        cells = [
            row["quantize"], str(row["num_threads"]), f"{row['size_mb']:.3f}", f"{row['latency_ms']:.2f}",
            "-" if diff is None else f"{diff:.2g}", f"{row['class_agreement_pct']:.3f}",
        ]
        if has_miou:
            cells += [f"{row.get('miou_keras', float('nan')):.4f}", f"{row.get('miou_tflite', float('nan')):.4f}",
                      f"{row.get('miou_drop', float('nan')):+.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
