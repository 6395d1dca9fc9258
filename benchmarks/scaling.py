"""Figure 5: how training and inference time grow with input size and batch.

Two models, U-Net (base 16 filters) and DeepLabV3+ MobileNetV2, random
init, float32: seconds per step for square inputs from 128 to 1024 pixels
(batch 1) and per-image time for batch sizes 1..8 at 256x256. Writes
``benchmarks/scaling.png`` (log-log time vs pixels, and time per image vs
batch).

Run: ``python -m benchmarks.scaling [--quick] [--no-append]``.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import _common as C  # noqa: E402

CLASSES = 12
MODELS = (
    ("U-Net base 16", "unet", {"base_filters": 16}),
    ("DeepLabV3+ MobileNetV2", "deeplab_v3_plus", {"backbone": "mobilenet_v2"}),
)
PLOT = C.REPO / "benchmarks" / "scaling.png"

# Every new input shape retraces the step function: --quick keeps 3 sizes.
QUICK = dict(infer_sizes=(128, 512, 1024), train_sizes=(128, 256, 512), batches=(1, 4), batch_size_px=256,
             warmup=1, rounds=2)
FULL = dict(infer_sizes=(128, 256, 384, 512, 768, 1024), train_sizes=(128, 256, 384, 512, 768, 1024),
            batches=(1, 2, 4, 8), batch_size_px=256, warmup=1, rounds=5)


def _step_seconds(model, size, batch, mode, settings):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    if mode == "train":
        masks = rng.integers(0, CLASSES, (batch, size, size)).astype("int32")
        step = lambda: model.train_on_batch(images, masks)  # noqa: E731
    else:
        step = lambda: model.predict_on_batch(images)  # noqa: E731
    return C.interleaved({"step": step}, warmup=settings["warmup"], rounds=settings["rounds"])["step"]


def measure(settings, log=print):
    """dict label -> {"size": {mode: [(size, s)]}, "batch": {mode: [(batch, s per image)]}}."""
    import kseg.models

    results = {}
    for label, name, kwargs in MODELS:
        start = time.perf_counter()
        keras.utils.set_random_seed(0)
        model = kseg.models.build(name, num_classes=CLASSES, **kwargs)
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=False)
        entry = {"size": {"train": [], "infer": []}, "batch": {"train": [], "infer": []}}
        for mode, sizes in (("infer", settings["infer_sizes"]), ("train", settings["train_sizes"])):
            for size in sizes:
                entry["size"][mode].append((size, _step_seconds(model, size, 1, mode, settings)))
            for batch in settings["batches"]:
                seconds = _step_seconds(model, settings["batch_size_px"], batch, mode, settings)
                entry["batch"][mode].append((batch, seconds / batch))
        results[label] = entry
        log(f"  {label}: " + "; ".join(
            f"{mode} " + ", ".join(f"{s}px {t * 1000:.0f} ms" for s, t in entry["size"][mode])
            for mode in ("infer", "train")) + f" [{time.perf_counter() - start:.0f} s]")
        keras.backend.clear_session()
    return results


def plot(results, path=PLOT):
    """Write the two-panel PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (label, entry), colour in zip(results.items(), ("tab:blue", "tab:orange")):
        for mode, style in (("train", "-o"), ("infer", "--s")):
            sizes, seconds = zip(*entry["size"][mode])
            left.loglog([s * s for s in sizes], seconds, style, color=colour, label=f"{label} {mode}")
            batches, per_image = zip(*entry["batch"][mode])
            right.plot(batches, np.array(per_image) * 1000, style, color=colour, label=f"{label} {mode}")
    left.set_xlabel("pixels per image (128^2 .. 1024^2)")
    left.set_ylabel("seconds per step, batch 1")
    left.set_title("time vs input size")
    right.set_xlabel("batch size (256x256)")
    right.set_ylabel("ms per image")
    right.set_title("time per image vs batch size")
    for axis in (left, right):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _exponent(points):
    """Slope of log(time) vs log(pixels): 1.0 = linear in pixel count."""
    sizes, seconds = zip(*points)
    return float(np.polyfit(np.log(np.square(sizes)), np.log(seconds), 1)[0])


def run(quick=False, log=print):
    """Measure figure 5; returns (markdown section, summary dict)."""
    settings = QUICK if quick else FULL
    load_before = C.load()
    log(f"[scaling] settings {settings}")
    results = measure(settings, log=log)
    path = plot(results)
    rows, batch_rows, summary = [], [], {}
    for label, entry in results.items():
        for mode in ("train", "infer"):
            points = entry["size"][mode]
            exponent = _exponent(points)
            summary[(label, mode)] = exponent
            rows.append((label, mode, *[f"{s}px {t * 1000:.0f}" for s, t in points], f"{exponent:.2f}"))
            batch_rows.append((label, mode, ", ".join(f"b{b}: {t * 1000:.0f}" for b, t in entry["batch"][mode])))
    width = max(len(r) for r in rows)
    rows = [r[:-1] + ("",) * (width - len(r)) + r[-1:] for r in rows]
    body = [
        *C.table(("model", "mode", *["size: ms/step"] * (width - 3), "exponent (time ~ pixels^k)"), rows),
        "",
        *C.table(("model", "mode", f"ms per image by batch size at {settings['batch_size_px']}px"), batch_rows),
        "",
        f"Plot: [{path.name}]({path.name}).",
    ]
    settings_text = (
        f"random init, float32, no XLA, batch 1 for the size sweep; {settings['warmup']} warm-up and "
        f"{settings['rounds']} timed steps per point, median. Train = train_on_batch (Adam), "
        "infer = predict_on_batch."
    )
    text = C.section("Figure 5: scaling with input size and batch (issue 8)", quick=quick, settings=settings_text,
                     load_before=load_before, body=body)
    return text, summary


def main(argv=None):
    C.figure_main(run, __doc__, "fewer sizes and rounds", argv)


if __name__ == "__main__":
    main()
