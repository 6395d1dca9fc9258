"""Figure 4: can the CamVid input pipeline feed training?

Supply: images/s of CamVid decode + augment + batch, from
``benchmarks/data_throughput.py`` (run as a subprocess: it has no public
function that returns its numbers), plus the pipeline at the exact size of
``configs/camvid_unet.yaml`` (176x240, batch 8) measured here. Demand:
images/s that a training step of that config's model consumes (U-Net, base
32, depth 4, 176x240, batch 8), float32 and mixed_bfloat16 (the config's
precision). Supply / demand > 1 means the pipeline is not the bottleneck.

Run: ``python -m benchmarks.input_pipeline [--quick] [--no-append]``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import _common as C  # noqa: E402

CAMVID = C.REPO / ".." / "shared" / "data" / "camvid"
SIZE, BATCH, CLASSES = (176, 240), 8, 12
MODEL = ("unet", {"base_filters": 32, "depth": 4, "upsampling": "transposed"})

QUICK = dict(throughput_batches=8, pipeline_batches=8, warmup=1, rounds=2)
FULL = dict(throughput_batches=40, pipeline_batches=40, warmup=2, rounds=8)


def data_throughput_rows(batches, camvid=CAMVID):
    """Rows ``(pipeline, images/s)`` printed by benchmarks.data_throughput."""
    command = [sys.executable, "-m", "benchmarks.data_throughput", "--camvid", str(camvid),
               "--batches", str(batches), "--no-append"]
    done = subprocess.run(command, cwd=C.REPO, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.data_throughput failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    rows = re.findall(r"^\| (.+?) \| ([0-9.]+) \|$", done.stdout, flags=re.MULTILINE)
    if not rows:
        raise RuntimeError("benchmarks.data_throughput printed no table rows.")
    return [(name, float(rate)) for name, rate in rows]


def config_pipeline_rate(batches, camvid=CAMVID):
    """images/s of the training pipeline at 176x240, batch 8, default augmentation."""
    import kseg.data as kd

    dataset = kd.training_pipeline(kd.camvid(str(camvid), "train"), input_size=SIZE, batch_size=BATCH, seed=0)
    iterator = iter(dataset)
    next(iterator)  # warm-up: tracing, thread pools, autotune
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        images += int(next(iterator)[0].shape[0])
    return images / (time.perf_counter() - start)


def train_step(policy):
    """(model, one train_on_batch step) for the CamVid config's model under ``policy``."""
    import kseg.models

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = kseg.models.build(MODEL[0], num_classes=CLASSES, **MODEL[1])
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (BATCH, *SIZE, 3)).astype("float32")
    masks = rng.integers(0, CLASSES, (BATCH, *SIZE)).astype("int32")
    return model, lambda: model.train_on_batch(images, masks)


def run(quick=False, log=print):
    """Measure figure 4; returns (markdown section, summary dict)."""
    settings = QUICK if quick else FULL
    load_before = C.load()
    log(f"[input pipeline] CamVid at {CAMVID.resolve()}; settings {settings}")
    summary, body = {}, []
    supply = []
    if (CAMVID / "train.txt").exists():
        try:
            supply = data_throughput_rows(settings["throughput_batches"])
        except Exception as error:  # report it, still measure demand
            body.append(f"- benchmarks.data_throughput failed: {error}")
        supply.append((f"decode + augment (default) + batch at {SIZE[0]}x{SIZE[1]}, batch {BATCH} "
                       "(camvid_unet.yaml size)", config_pipeline_rate(settings["pipeline_batches"])))
    else:
        body.append(f"- CamVid not found at {CAMVID}: supply not measured.")
    for name, rate in supply:
        log(f"  supply {name}: {rate:.1f} img/s")

    models = {policy: train_step(policy) for policy in ("float32", "mixed_bfloat16")}
    seconds = C.interleaved({p: step for p, (_, step) in models.items()}, warmup=settings["warmup"],
                            rounds=settings["rounds"])
    demand = {policy: BATCH / s for policy, s in seconds.items()}
    for policy, rate in demand.items():
        log(f"  demand U-Net base 32 train {policy}: {rate:.1f} img/s")

    rows = [(name, C.fmt(rate, 1), *[C.fmt(rate / demand[p]) for p in demand]) for name, rate in supply]
    summary = {"supply": dict(supply), "demand": demand}
    if supply:
        config_rate = supply[-1][1]
        summary["headroom"] = {p: config_rate / d for p, d in demand.items()}
    body = [
        *C.table(("training step (demand)", "images/s"),
                 [(f"U-Net base 32 {SIZE[0]}x{SIZE[1]} batch {BATCH}, {p}", C.fmt(r, 1)) for p, r in demand.items()]),
        "",
        *C.table(("pipeline (supply)", "images/s", *[f"supply / demand ({p})" for p in demand]), rows),
        *([""] + body if body else []),
    ]
    settings_text = (
        f"supply: benchmarks.data_throughput with --batches {settings['throughput_batches']} (360x480, batch 8) "
        f"and the 176x240 pipeline over {settings['pipeline_batches']} batches; demand: train_on_batch "
        f"(Adam), {settings['warmup']} warm-up, {settings['rounds']} interleaved rounds, median. Pipeline and "
        "training were measured one after the other; when they run together they share the same cores."
    )
    text = C.section("Figure 4: input pipeline vs training demand (issue 8)", quick=quick, settings=settings_text,
                     load_before=load_before, body=body)
    return text, summary


def main(argv=None):
    C.figure_main(run, __doc__, "fewer batches and rounds", argv)


if __name__ == "__main__":
    main()
