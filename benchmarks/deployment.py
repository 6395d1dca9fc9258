"""Figure 3: deployment latency and size, SavedModel vs TFLite fp32/fp16/int8.

Models: DeepLabV3+ MobileNetV2 at 257x257 (the MobileNet backbone takes
any size >= 32; 257 is DeepLab's mobile size and is used as is), SegNet-Basic
and U-Net at 256x256. Each is trained for a few ``fit`` steps on kseg's
synthetic shapes data first, so int8 calibration and the parity numbers see
realistic, non-random logits.

Latency: one image, median over interleaved rounds, of the SavedModel's
``serving_default`` (TF runtime, all cores) and of the ``.tflite`` in the
ai-edge-litert ``Interpreter`` with 1 and 2 threads. Parity: the .tflite's
logits and class map against the Keras model (``kseg.export.tflite_parity``).

Run: ``python -m benchmarks.deployment [--quick] [--no-append]``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import _common as C  # noqa: E402

CLASSES = 12
SYNTHETIC_CLASSES = 6
QUANTIZATIONS = ("none", "fp16", "int8")
THREADS = (1, 2)
# name, builder name, input size, builder kwargs
# DeepLab's mobile setting: light ASPP (1x1 branch + image pooling, no 3x3
# dilated branches) and depthwise-separable decoder convs. kseg's MobileNetV2
# tap is out_relu (1280 channels), so the ASPP's two 1x1 convs dominate the
# head; 64 channels keep the int8 file under 3 MB (80: 2.85 MiB, 128: 3.02 MiB).
MOBILE_HEAD = {"backbone": "mobilenet_v2", "aspp_rates": (), "separable": True, "aspp_filters": 64,
               "decoder_filters": 64, "low_level_filters": 48}
MODELS = (
    ("DeepLabV3+ MobileNetV2", "deeplab_v3_plus", (257, 257), {"backbone": "mobilenet_v2"}),
    ("DeepLabV3+ MobileNetV2 mobile head", "deeplab_v3_plus", (257, 257), MOBILE_HEAD),
    # The default head (256-filter ASPP with 3x3 branches, 256-filter 3x3
    # decoder) holds most of the 13M parameters; narrowing it alone is not
    # enough for the size goal.
    ("DeepLabV3+ MobileNetV2 96-filter head", "deeplab_v3_plus", (257, 257),
     {"backbone": "mobilenet_v2", "aspp_filters": 96, "decoder_filters": 96}),
    ("SegNet-Basic", "segnet_basic", (256, 256), {}),
    ("U-Net", "unet", (256, 256), {}),
)
GOAL_INT8_MB, GOAL_INT8_RATIO = 3.0, 0.4


def briefly_trained(builder, size, kwargs, *, steps, seed=0):
    """A model after ``steps`` Adam steps on synthetic shapes, and held-out
    uint8 images / int32 masks at ``size``."""
    import kseg.models
    from kseg.data.synthetic import synthetic_arrays

    keras.utils.set_random_seed(seed)
    model = kseg.models.build(builder, num_classes=CLASSES, input_shape=(None, None, 3), **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # The synthetic generator draws 6 classes (background + 5 shapes); the
    # model keeps 12 outputs, as a real 12-class task would.
    images, masks = synthetic_arrays(2 * steps + 4, image_size=size, num_classes=SYNTHETIC_CLASSES, seed=seed)
    model.fit(images[:-4].astype("float32"), masks[:-4], batch_size=2, epochs=1, verbose=0)
    return model, images[-4:], masks[-4:]


def _tflite_runner(path, threads, image):
    """One timed call: ``image`` through ``kseg.inference.tflite_predictor`` (ai-edge-litert)."""
    from kseg.inference import tflite_predictor

    predictor = tflite_predictor(path, num_threads=threads)
    return lambda: predictor.outputs(image)


def measure_model(label, builder, size, kwargs, settings, workdir, errors, log=print):
    """Rows for one model: dicts with format, threads, latency_ms, size_mb,
    parity; export failures are appended to ``errors``."""
    from kseg.export import export_saved_model, export_tflite, tflite_parity

    start = time.perf_counter()
    model, images, masks = briefly_trained(builder, size, kwargs, steps=settings["fit_steps"])
    workdir = Path(workdir)
    version_dir = export_saved_model(model, workdir / "saved", builder, warmup=False)
    serving = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    image = images[:1]
    candidates = {("SavedModel", "all"): lambda: serving(images=tf.constant(image))["classes"].numpy()}
    sizes = {("SavedModel", "all"): C.artefact_size_mb(version_dir)}
    parity = {}
    for quantize in QUANTIZATIONS:
        path = workdir / f"{builder}_{quantize}.tflite"
        fmt = {"none": "TFLite fp32", "fp16": "TFLite fp16", "int8": "TFLite int8"}[quantize]
        try:
            export_tflite(model, path, input_size=size, quantize=quantize, include_scores=True,
                          representative_data=images if quantize == "int8" else None)
            parity[fmt] = tflite_parity(model, path, images, num_threads=2, masks=masks, min_runs=1)
        except Exception as error:  # one failing format is reported, the others still measured
            lines = [line for line in str(error).splitlines() if line.strip()]
            errors.append(f"{label} {fmt}: {type(error).__name__}: {' / '.join(lines[:1] + lines[-1:])[:300]}")
            log(f"  {errors[-1]}")
            continue
        for threads in THREADS:
            candidates[(fmt, threads)] = _tflite_runner(path, threads, image)
            sizes[(fmt, threads)] = C.artefact_size_mb(path)
    seconds = C.interleaved(candidates, warmup=settings["warmup"], rounds=settings["rounds"])
    rows = [
        {"model": label, "format": fmt, "threads": threads, "latency_ms": seconds[(fmt, threads)] * 1000,
         "size_mb": sizes[(fmt, threads)], "parity": parity.get(fmt), "params": model.count_params()}
        for fmt, threads in candidates
    ]
    log(f"  {label} {size[0]}x{size[1]}: " + ", ".join(
        f"{r['format']}/{r['threads']} {r['latency_ms']:.0f} ms" for r in rows) +
        f" [{time.perf_counter() - start:.0f} s]")
    return rows


# Each TFLite conversion takes 20-60 s on 2 shared cores: --quick measures
# the default and mobile-head DeepLabV3+ MobileNetV2 (the goal model) only.
QUICK = dict(fit_steps=4, warmup=1, rounds=5, models=2)
FULL = dict(fit_steps=20, warmup=2, rounds=20, models=len(MODELS))


def run(quick=False, log=print):
    """Measure figure 3; returns (markdown section, summary dict)."""
    settings = QUICK if quick else FULL
    load_before = C.load()
    log(f"[deployment] SavedModel vs TFLite; settings {settings}")
    rows, errors = [], []
    with tempfile.TemporaryDirectory(prefix="kseg-bench-deploy-") as workdir:
        for label, builder, size, kwargs in MODELS[: settings["models"]]:
            try:
                rows += measure_model(label, builder, size, kwargs, settings, workdir, errors, log=log)
            except Exception as error:  # report and go on with the next model
                errors.append(f"{label}: {type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}")
                log(f"  {errors[-1]}")
            keras.backend.clear_session()

    saved_latency = {r["model"]: r["latency_ms"] for r in rows if r["format"] == "SavedModel"}
    latency_rows, parity_rows, summary = [], [], {"goals": {}}
    for r in rows:
        ratio = r["latency_ms"] / saved_latency[r["model"]]
        latency_rows.append((r["model"], C.fmt(r["params"] / 1e6), r["format"], r["threads"],
                             C.fmt(r["latency_ms"], 1), C.fmt(ratio), C.fmt(r["size_mb"])))
        if r["parity"] and r["threads"] == THREADS[0]:
            p = r["parity"]
            diff = p["max_abs_logit_diff"]
            parity_rows.append((r["model"], r["format"], "n/a" if diff is None else f"{diff:.2g}",
                                C.fmt(p["class_agreement_pct"], 2), C.fmt(p.get("miou_keras"), 3),
                                C.fmt(p.get("miou_tflite"), 3)))
    goal_lines = []
    for label, builder, _, kwargs in MODELS[:2]:
        goal = [r for r in rows if r["model"] == label and r["format"] == "TFLite int8"]
        if not goal:
            continue
        best = min(goal, key=lambda r: r["latency_ms"])
        ratio = best["latency_ms"] / saved_latency[label]
        summary["goals"][label] = {"int8_mb": best["size_mb"], "int8_ratio": ratio, "threads": best["threads"]}
        goal_lines.append(
            f"- Goal, {label} int8: size {best['size_mb']:.2f} MB (10^6 bytes) "
            f"(goal <= {GOAL_INT8_MB} MB: {'met' if best['size_mb'] <= GOAL_INT8_MB else 'NOT met'}), "
            f"latency {ratio:.2f}x SavedModel with {best['threads']} thread(s) "
            f"(goal <= {GOAL_INT8_RATIO}x: {'met' if ratio <= GOAL_INT8_RATIO else 'NOT met'}).")
    body = [
        *C.table(("model", "params (M)", "format", "threads", "latency ms", "x SavedModel", "size MB"),
                 latency_rows),
        "",
        *goal_lines,
        "",
        "Export parity (TFLite vs Keras on 4 held-out synthetic images; mIoU after the brief training). After "
        "a few steps the class maps are nearly uniform, so class agreement is a weak check there; the max abs "
        "logit difference is the sharp one:",
        "",
        *C.table(("model", "format", "max abs logit diff", "class agreement %", "mIoU keras", "mIoU tflite"),
                 parity_rows),
        *([""] + [f"- error: {e}" for e in errors] if errors else []),
    ]
    full_only = " (--quick: the 96-filter head, SegNet-Basic and U-Net only in the full run)"
    settings_text = (
        f"{settings['fit_steps']} fit steps (batch 2, Adam 1e-3) on kseg synthetic shapes ({SYNTHETIC_CLASSES} classes "
        f"present, {CLASSES} model outputs); "
        f"batch-1 latency, {settings['warmup']} warm-up, {settings['rounds']} interleaved rounds, median. "
        "SavedModel = serving_default (uint8 in, classes + probabilities out) in the TF runtime on all cores; "
        "TFLite = builtin-ops export (uint8 in, classes + scores out) in the ai-edge-litert Interpreter. "
        "int8 calibrated on the 4 held-out images. Size: SavedModel directory / .tflite file. "
        f"Models: {', '.join(m[0] for m in MODELS[: settings['models']])}"
        f"{full_only if settings['models'] < len(MODELS) else ''}. "
        f"Mobile head = {', '.join(f'{k}={v!r}' for k, v in MOBILE_HEAD.items())}."
    )
    text = C.section("Figure 3: deployment, SavedModel vs TFLite (issue 8)", quick=quick, settings=settings_text,
                     load_before=load_before, body=body)
    summary["rows"] = rows
    return text, summary


def main(argv=None):
    C.figure_main(run, __doc__, "fewer fit steps and timed rounds", argv)


if __name__ == "__main__":
    main()
