"""Export parity matrix (issue 7): every registered model x TFLite quantization.

For each model in ``kseg.models.available()`` (small width, see ``CONFIGS``):
train briefly on kseg's synthetic shapes (6 classes, Adam, batch 8), then
export a SavedModel (``serving_default``) and builtin-ops-only TFLite files
(fp32 / fp16 / dynamic-range / full int8 calibrated on training images), run
them with ai-edge-litert and compare with the Keras model on held-out
synthetic validation images:

* class agreement % (pixels whose argmax class equals Keras'), flagged
  against the targets fp32 >= 99.9, fp16 >= 99.5, dynamic and int8 >= 97;
* max |logit diff| (the .tflite is exported with its ``scores`` output);
* mIoU of Keras and of the .tflite against the ground truth, and the drop;
* file size (MB = 10^6 bytes) and batch-1 latency with 1 and 2 interpreter
  threads at the export size (interleaved rounds, median).

An ONNX row (``kseg.export.export_onnx`` at the same fixed size, run in
ONNX Runtime on CPU with 1 and 2 intra-op threads, timed in the same
rounds as the .tflite files) sits beside them unless ``--no-onnx``.

A failing export or run becomes a FAILED row and the run goes on.

Run: ``python -m benchmarks.export_parity [--quick] [--models a,b] [--size 64]
[--steps N] [--quantize none,int8] [--no-onnx] [--no-append]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import _common as C  # noqa: E402
from benchmarks.deployment import _tflite_runner  # noqa: E402
from kseg._checks import check_int  # noqa: E402
from kseg.models.small import SMALL_CONFIGS, SMALL_LEARNING_RATES  # noqa: E402

# The small widths the shared zoo test uses, so the numbers describe the
# models CI exports. A registered model missing there fails the run at once.
CONFIGS = SMALL_CONFIGS
LEARNING_RATES = SMALL_LEARNING_RATES
DEFAULT_LEARNING_RATE = 1e-3
NUM_CLASSES = 6  # background + the 5 synthetic shapes
BATCH_SIZE = 8
QUANTIZATIONS = ("none", "fp16", "dynamic", "int8")
ONNX = "onnx"
LABELS = {"none": "fp32", "fp16": "fp16", "dynamic": "dynamic", "int8": "int8", "savedmodel": "SavedModel",
          "training": "training (no export)", ONNX: "ONNX fp32"}
# Agreement targets of issue 7; dynamic-range files hold int8 weights, so
# they are held to the int8 target.
TARGETS = {ONNX: 99.9, "none": 99.9, "fp16": 99.5, "dynamic": 97.0, "int8": 97.0, "savedmodel": 99.9}
THREADS = (1, 2)
MIN_SIZE, MAX_SIZE = 32, 512

# --quick: fewer steps and images, so the full 10-model matrix (50 exports)
# finishes in about 15 minutes on 2 shared cores.
QUICK = dict(steps=40, train_images=64, val_images=8, calibration_images=16, warmup=1, rounds=5)
FULL = dict(steps=300, train_images=256, val_images=32, calibration_images=100, warmup=2, rounds=20)

COLUMNS = ("model", "format", "size MB", "latency ms 1 thr", "latency ms 2 thr", "max \\|logit diff\\|",
           "class agreement %", "target", "mIoU keras", "mIoU export", "mIoU drop")


def check_models(models):
    """Names to measure: all registered models by default; each needs a CONFIGS entry.

    Raises:
        ValueError: an unknown name, or a registered model without a config.
    """
    import kseg.models

    registered = kseg.models.available()
    missing = sorted(set(registered) - set(CONFIGS))
    if missing:
        raise ValueError(f"registered models without a small config in kseg/models/small.py SMALL_CONFIGS: {missing}.")
    if models is None:
        return list(registered)
    return _known_names(models, registered, "models", "a non-empty list of names", "registered")


def check_quantizations(quantizations):
    return _known_names(quantizations, QUANTIZATIONS, "quantizations", "a non-empty list", "choose from")


def _known_names(values, known, what, expected, known_label):
    """``values`` without repeats, in order; a string, an empty list or an unknown name raises."""
    if isinstance(values, str) or not values:
        raise ValueError(f"{what} must be {expected}, got {values!r}.")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; {known_label}: {', '.join(known)}.")
    return list(dict.fromkeys(values))


def pixel_accuracy(predicted, masks):
    """Percentage of pixels (ignore id 255 skipped) whose class is right (``kseg.metrics``)."""
    from kseg.metrics import confusion_matrix, scores

    cm = confusion_matrix(np.asarray(masks), np.asarray(predicted), NUM_CLASSES, ignore_id=255)
    return float(scores.pixel_accuracy(cm)) * 100.0


def train(name, size, *, steps, train_images, seed=0):
    """Briefly trained small ``name`` model and its training data.

    The loss is median-frequency weighted: unweighted, a few dozen steps
    teach the slow learners (the FCNs) to answer "background" everywhere,
    and a constant class map agrees with any export trivially.

    Returns:
        ``(model, images uint8 [N, size, size, 3], masks int32 [N, size, size],
        facts)``; facts: ``params``, ``train_pixel_accuracy`` (%) and
        ``train_miou`` in inference mode.
    """
    import kseg.models
    from kseg.data.class_weights import class_weights
    from kseg.data.synthetic import synthetic_arrays
    from kseg.export import mean_iou
    from kseg.losses import CrossEntropy
    from kseg.training import precise_batchnorm

    keras.utils.set_random_seed(seed)
    images, masks = synthetic_arrays(train_images, image_size=(size, size), num_classes=NUM_CLASSES,
                                     seed=seed, split_index=0)
    weights = class_weights(tf.data.Dataset.from_tensor_slices((images, masks)), NUM_CLASSES)
    model = kseg.models.build(name, num_classes=NUM_CLASSES, input_shape=(None, None, 3), **CONFIGS[name])
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATES.get(name, DEFAULT_LEARNING_RATE)),
                  loss=CrossEntropy(class_weights=weights.tolist()))
    data = (tf.data.Dataset.from_tensor_slices((images.astype(np.float32), masks))
            .shuffle(train_images, seed=seed).repeat().batch(BATCH_SIZE, drop_remainder=True))
    model.fit(data, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    # Precise BN: after a few dozen steps the moving averages still mostly hold their initial values.
    precise_batchnorm(model, images[: 4 * BATCH_SIZE].astype(np.float32))
    predicted = np.argmax(model.predict(images.astype(np.float32), batch_size=BATCH_SIZE, verbose=0), -1)
    facts = {"params": model.count_params(), "train_pixel_accuracy": pixel_accuracy(predicted, masks),
             "train_miou": mean_iou(predicted, masks, NUM_CLASSES)}
    return model, images, masks, facts


def target_check(quantize, agreement):
    """``'ok'`` or ``'**BELOW** (target >= T)'`` for a row's class agreement."""
    target = TARGETS[quantize]
    return "ok" if agreement >= target else f"**BELOW** (target >= {target})"


def _error_text(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {' / '.join(lines[:1] + lines[-1:])[:240]}"


def measure_onnx(model, name, size, val_x, val_y, workdir):
    """The ONNX row (no model facts) and its batch-1 ONNX Runtime runners {("onnx", threads): fn}."""
    from kseg.export import export_onnx, onnx_parity
    from kseg.export.onnx import onnx_session

    path = Path(workdir) / f"{name}.onnx"
    export_onnx(model, path, input_size=(size, size), include_scores=True)
    parity = onnx_parity(model, path, val_x, masks=val_y, min_runs=1)
    row = {
        "model": name, "format": ONNX, "error": None, "size_mb": C.artefact_size_mb(path), "latency_ms": {},
        "max_abs_logit_diff": parity["max_abs_logit_diff"], "class_agreement_pct": parity["class_agreement_pct"],
        "below_target": parity["class_agreement_pct"] < TARGETS[ONNX], "miou_keras": parity["miou_keras"],
        "miou_export": parity["miou_onnx"], "miou_drop": parity["miou_drop"],
    }
    sessions = {threads: onnx_session(path, threads) for threads in THREADS}
    return row, {(ONNX, threads): (lambda s=s: s.run(None, {"images": val_x[:1]})) for threads, s in sessions.items()}


def measure_model(name, size, settings, quantizations, workdir, log=print, onnx=True):
    """Rows (dicts) for one model: a SavedModel row and one row per quantization.

    Every row has ``model``, ``format`` (``savedmodel`` or a quantization; ``run``
    adds a ``training`` row when a model cannot be built or trained) and
    ``error`` (None or the failure); measured rows add ``size_mb``,
    ``latency_ms`` ({threads: ms}, TFLite only), ``max_abs_logit_diff``,
    ``class_agreement_pct``, ``below_target``, ``miou_keras``, ``miou_export``,
    ``miou_drop``, and model facts ``params``, ``train_pixel_accuracy``,
    ``train_miou``, ``val_classes_predicted``, ``val_median_margin`` (median
    gap between the two largest Keras logits per val pixel).
    """
    from kseg.data.synthetic import synthetic_arrays
    from kseg.export import (
        class_agreement, export_saved_model, export_tflite, max_abs_diff, mean_iou, reference_logits, tflite_parity,
    )

    start = time.perf_counter()
    model, train_x, _, facts = train(name, size, steps=settings["steps"], train_images=settings["train_images"])
    val_x, val_y = synthetic_arrays(settings["val_images"], image_size=(size, size), num_classes=NUM_CLASSES,
                                    seed=0, split_index=1)
    # Through the exports' own resize rules, so a difference is the export's.
    logits = reference_logits(model, val_x)
    keras_classes = logits.argmax(-1)
    miou_keras = mean_iou(keras_classes, val_y, NUM_CLASSES)
    facts["val_classes_predicted"] = int(np.unique(keras_classes).size)
    # A pixel whose two best logits are closer than an export's logit error
    # can flip class: small margins explain low agreement of a weakly
    # trained model better than the export does.
    top2 = np.sort(logits, axis=-1)[..., -2:]
    facts["val_median_margin"] = float(np.median(top2[..., 1] - top2[..., 0]))
    log(f"  {name}: trained {settings['steps']} steps in {time.perf_counter() - start:.0f} s, train pixel "
        f"accuracy {facts['train_pixel_accuracy']:.1f} %, train mIoU {facts['train_miou']:.3f}, "
        f"{facts['val_classes_predicted']} classes predicted on val")
    rows = []

    def failed(fmt, error):
        rows.append({"model": name, "format": fmt, "error": _error_text(error), **facts})
        log(f"  {name} {LABELS[fmt]}: FAILED {rows[-1]['error']}")

    workdir = Path(workdir)
    try:
        version_dir = export_saved_model(model, workdir / "saved", name, warmup=False)
        outputs = tf.saved_model.load(str(version_dir)).signatures["serving_default"](images=tf.constant(val_x))
        served = outputs["classes"].numpy()
        agreement = class_agreement(keras_classes, served)
        miou_export = mean_iou(served, val_y, NUM_CLASSES)
        rows.append({
            "model": name, "format": "savedmodel", "error": None, "size_mb": C.artefact_size_mb(version_dir),
            "latency_ms": {}, "max_abs_logit_diff": None,
            "max_abs_probability_diff": max_abs_diff(tf.nn.softmax(logits, -1).numpy(),
                                                     outputs["probabilities"].numpy()),
            "class_agreement_pct": agreement, "below_target": agreement < TARGETS["savedmodel"],
            "miou_keras": miou_keras, "miou_export": miou_export, "miou_drop": miou_keras - miou_export, **facts,
        })
    except Exception as error:  # reported in the table; the TFLite rows still run
        failed("savedmodel", error)

    runners = {}
    calibration = train_x[: settings["calibration_images"]]
    for quantize in quantizations:
        path = workdir / f"{name}_{quantize}.tflite"
        try:
            export_tflite(model, path, input_size=(size, size), quantize=quantize, include_scores=True,
                          representative_data=calibration if quantize == "int8" else None)
            parity = tflite_parity(model, path, val_x, num_threads=1, masks=val_y, min_runs=1)
        except Exception as error:  # one failing format is a row, the others still measured
            failed(quantize, error)
            continue
        rows.append({
            "model": name, "format": quantize, "error": None, "size_mb": C.artefact_size_mb(path),
            "latency_ms": {}, "max_abs_logit_diff": parity["max_abs_logit_diff"],
            "class_agreement_pct": parity["class_agreement_pct"],
            "below_target": parity["class_agreement_pct"] < TARGETS[quantize],
            "miou_keras": parity["miou_keras"], "miou_export": parity["miou_tflite"],
            "miou_drop": parity["miou_drop"], **facts,
        })
        for threads in THREADS:
            runners[(quantize, threads)] = _tflite_runner(path, threads, val_x[:1])
    if onnx:
        try:
            row, onnx_runners = measure_onnx(model, name, size, val_x, val_y, workdir)
        except Exception as error:  # an ONNX failure is a row; the TFLite rows stand
            failed(ONNX, error)
        else:
            rows.append({**row, **facts})
            runners.update(onnx_runners)
    if runners:
        seconds = C.interleaved(runners, warmup=settings["warmup"], rounds=settings["rounds"])
        for row in rows:
            for threads in THREADS:
                if (row["format"], threads) in seconds:
                    row["latency_ms"][threads] = seconds[(row["format"], threads)] * 1000.0
    log(f"  {name}: exported and measured in {time.perf_counter() - start:.0f} s")
    return rows


def _row_cells(row):
    label = LABELS[row["format"]]
    if row["error"]:
        error = row["error"].replace("|", "\\|")  # a pipe would split the markdown cell
        return (row["model"], label, "FAILED", "", "", "", "", f"**FAILED**: {error}", "", "", "")
    latency = [C.fmt(row["latency_ms"].get(t), 2) for t in THREADS]
    if row["format"] == "savedmodel":
        latency = ["-", "-"]
    diff = row["max_abs_logit_diff"]
    diff = f"{diff:.2g}" if diff is not None else f"(probabilities: {row['max_abs_probability_diff']:.2g})"
    return (
        row["model"], label, C.fmt(row["size_mb"], 3), *latency, diff,
        C.fmt(row["class_agreement_pct"], 3), target_check(row["format"], row["class_agreement_pct"]),
        C.fmt(row["miou_keras"], 4), C.fmt(row["miou_export"], 4), f"{row['miou_drop']:+.4f}",
    )


def summarize(rows):
    """Worst agreement per format, rows below target, failures.

    Returns:
        dict: ``worst`` {format: (agreement %, model)}, ``below`` [(model,
        format, agreement)], ``failures`` [(model, format, error)].
    """
    worst, below, failures = {}, [], []
    for row in rows:
        if row["error"]:
            failures.append((row["model"], row["format"], row["error"]))
            continue
        agreement = row["class_agreement_pct"]
        if row["format"] not in worst or agreement < worst[row["format"]][0]:
            worst[row["format"]] = (agreement, row["model"])
        if row["below_target"]:
            below.append((row["model"], row["format"], agreement))
    return {"worst": worst, "below": below, "failures": failures}


def _summary_lines(summary):
    lines = ["Worst class agreement per format: " + ", ".join(
        f"{LABELS[fmt]} {value:.3f} % ({model}; target >= {TARGETS[fmt]})"
        for fmt, (value, model) in summary["worst"].items()) + "."]
    if summary["below"]:
        lines.append("- **Below target**: " + "; ".join(
            f"{model} {LABELS[fmt]} {value:.3f} %" for model, fmt, value in summary["below"]) + ".")
    else:
        lines.append("- Every measured row meets its agreement target.")
    if summary["failures"]:
        lines.append("- **Failures**: " + "; ".join(
            f"{model} {LABELS[fmt]}: {error}" for model, fmt, error in summary["failures"]) + ".")
    else:
        lines.append("- No export or run failed.")
    return lines


def run(*, quick=False, models=None, size=64, steps=None, quantizations=QUANTIZATIONS, workdir=None, log=print,
        onnx=True):
    """Measure the matrix; returns ``(markdown section, result dict)``.

    Args:
        quick: ``QUICK`` settings instead of ``FULL``.
        models: names (default: every registered model).
        size: square export and training size in pixels, 32..512.
        steps: training steps (default from the settings).
        quantizations: subset of ``QUANTIZATIONS``.
        workdir: where exports go (default: a temporary directory, removed).
        onnx: also export and measure an ONNX file per model (needs the onnx extra).

    Returns:
        ``(text, {"rows": [...], "summary": summarize(rows), "settings": {...}})``.
    """
    models = check_models(models)
    quantizations = check_quantizations(quantizations)
    size = check_int(size, "size", minimum=MIN_SIZE, maximum=MAX_SIZE)
    settings = dict(QUICK if quick else FULL)
    if steps is not None:
        settings["steps"] = check_int(steps, "steps")
    load_before = C.load()
    log(f"[export_parity] {len(models)} models x {quantizations} at {size}x{size}; settings {settings}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="kseg-bench-parity-", dir=workdir) as tmp:
        for name in models:
            try:
                rows += measure_model(name, size, settings, quantizations, tmp, log=log, onnx=onnx)
            except Exception as error:  # training itself failed: one row, go on
                rows.append({"model": name, "format": "training", "error": _error_text(error)})
                log(f"  {name}: FAILED {rows[-1]['error']}")
            keras.backend.clear_session()

    facts = {}
    for row in rows:
        if "train_pixel_accuracy" in row:
            facts[row["model"]] = row
    summary = summarize(rows)
    from kseg.data.synthetic import synthetic_arrays
    from kseg.export import mean_iou

    # What a constant "background" predictor scores on the training images.
    _, train_y = synthetic_arrays(settings["train_images"], image_size=(size, size), num_classes=NUM_CLASSES,
                                  seed=0, split_index=0)
    constant_accuracy = pixel_accuracy(np.zeros_like(train_y), train_y)
    constant_miou = mean_iou(np.zeros_like(train_y), train_y, NUM_CLASSES)
    body = [
        *_summary_lines(summary),
        "",
        *C.table(COLUMNS, [_row_cells(row) for row in rows]),
        "",
        "Trained models (on the training images in inference mode; the class-weighted loss trades pixel "
        f"accuracy for mIoU; a constant 'background' predictor scores {constant_accuracy:.1f} % pixel accuracy "
        f"and {constant_miou:.3f} mIoU there):",
        "",
        *C.table(("model", "params (M)", "train pixel accuracy %", "train mIoU", "classes predicted on val",
                  "median top-2 logit margin on val"),
                 [(name, C.fmt(f["params"] / 1e6, 3), C.fmt(f["train_pixel_accuracy"], 1),
                   C.fmt(f["train_miou"], 3), f"{f['val_classes_predicted']} / {NUM_CLASSES}",
                   f"{f['val_median_margin']:.2g}") for name, f in facts.items()]),
    ]
    quick_text = (" --quick means " + ", ".join(f"{k}={v}" for k, v in QUICK.items())
                  + f" (full: {', '.join(f'{k}={v}' for k, v in FULL.items())}).") if quick else ""
    settings_text = (
        f"every registered model at small width (`CONFIGS` in benchmarks/export_parity.py), {size}x{size}, "
        f"{NUM_CLASSES} classes of kseg synthetic shapes; trained {settings['steps']} steps, batch {BATCH_SIZE}, "
        "cross-entropy with median-frequency class weights, "
        f"Adam {DEFAULT_LEARNING_RATE:g} (FCNs {LEARNING_RATES['fcn8s']:g}) on {settings['train_images']} training "
        "images, then BN statistics recomputed on 32 of them. Exports: SavedModel `serving_default` (TF runtime) "
        "and builtin-ops-only TFLite with `scores` (fp32 = quantize none; dynamic = int8 weights, float "
        f"activations; int8 = full integer, calibrated on {settings['calibration_images']} training images), run "
        "in the ai-edge-litert Interpreter; ONNX fp32: `export_onnx` (Keras's ONNX export through tf2onnx) at "
        "the same size with `scores`, run in ONNX Runtime on CPU (intra-op threads = the thread count). Parity on "
        f"{settings['val_images']} held-out synthetic val images: class "
        "agreement with Keras, max |logit diff| (TFLite / ONNX scores vs Keras logits; for the SavedModel, which outputs "
        "probabilities, the max |probability diff|), mIoU against ground truth. Targets: fp32, ONNX and SavedModel >= 99.9 %, "
        "fp16 >= 99.5 %, dynamic and int8 >= 97 %. Size: .tflite / .onnx file, SavedModel directory, in MB (10^6 bytes). Latency: "
        f"batch 1 at {size}x{size}, {settings['warmup']} warm-up and {settings['rounds']} interleaved rounds over "
        f"all of a model's files and thread counts, median.{quick_text}"
    )
    text = C.section("Export parity matrix: every model x quantization (issue 7)", quick=quick,
                     settings=settings_text, load_before=load_before, body=body)
    return text, {"rows": rows, "summary": summary, "settings": settings}


def _names(text):
    return [part.strip() for part in text.split(",") if part.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, images and timed rounds (see QUICK)")
    parser.add_argument("--models", type=_names, default=None, help="comma-separated model names (default: all)")
    parser.add_argument("--size", type=int, default=64, help=f"square export size, {MIN_SIZE}..{MAX_SIZE}")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: 40 quick, 300 full)")
    parser.add_argument("--quantize", type=_names, default=list(QUANTIZATIONS),
                        help=f"comma-separated subset of {','.join(QUANTIZATIONS)}")
    parser.add_argument("--no-onnx", action="store_true", help="no ONNX row (ONNX export needs the onnx extra)")
    parser.add_argument("--no-append", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    try:
        text, _ = run(quick=args.quick, models=args.models, size=args.size, steps=args.steps,
                      quantizations=args.quantize, onnx=not args.no_onnx)
    except ValueError as error:
        parser.error(str(error))
    print(text)
    if not args.no_append:
        C.append_results(text)


if __name__ == "__main__":
    main()
