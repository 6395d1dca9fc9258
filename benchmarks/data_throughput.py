"""CamVid input-pipeline throughput: decode + augment + batch, images/s.

Run from the repository root: ``python -m benchmarks.data_throughput``
[--camvid PATH] [--batches N] [--batch-size B] [--no-append].
Prints a table and appends it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import kseg.data as kd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CAMVID = REPO / ".." / "shared" / "data" / "camvid"


def _rate(ds, batches):
    it = iter(ds)
    next(it)  # warm-up: tracing, thread pools, autotune
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        try:
            images += int(next(it)[0].shape[0])
        except StopIteration:
            it = iter(ds)
            images += int(next(it)[0].shape[0])
    return images / (time.perf_counter() - start)


def _cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--camvid", default=str(DEFAULT_CAMVID))
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--no-append", action="store_true")
    args = p.parse_args(argv)
    if not (Path(args.camvid) / "train.txt").exists():
        sys.exit(f"CamVid not found at {args.camvid}; pass --camvid PATH.")

    data = kd.camvid(args.camvid, "train")
    size, bs = (360, 480), args.batch_size
    cases = [
        ("decode only (source, unbatched x8)", data.dataset.batch(bs)),
        ("decode + augment (default) + batch",
         kd.training_pipeline(data, input_size=size, batch_size=bs, seed=0)),
        ("decode + augment with 10 deg rotation + batch",
         kd.training_pipeline(data, input_size=size, batch_size=bs, seed=0,
                              augment=kd.AugmentConfig(rotation=10.0))),
        ("cached decode, augment (default) + batch",
         kd.training_pipeline(data, input_size=size, batch_size=bs, seed=0, cache=True)),
    ]
    load_before = os.getloadavg()
    rows = [(name, _rate(ds, args.batches)) for name, ds in cases]
    load_after = os.getloadavg()

    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    machine = (f"{_cpu_model()}, {os.cpu_count()} cores visible, {platform.system()} "
               f"{platform.release()}")
    versions = (f"Python {platform.python_version()}, tensorflow {tf.__version__}, "
                f"keras {keras.__version__}")
    lines = [
        f"## Data pipeline throughput (issue 5), {stamp}",
        "",
        f"- Machine: {machine}.",
        f"- Versions: {versions}.",
        f"- CamVid train, {size[0]}x{size[1]}, batch {bs}, {args.batches} batches after one "
        "warm-up batch; default augmentation = random scale 0.75-1.5, crop/pad, flip, colour jitter.",
        f"- Load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f} (1 min): the "
        "machine is shared with other jobs, so these figures are lower bounds.",
        "",
        "| pipeline | images/s |",
        "|---|---|",
        *[f"| {name} | {rate:.1f} |" for name, rate in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_append:
        results = REPO / "benchmarks" / "RESULTS.md"
        prefix = "" if results.exists() else "# Benchmark results\n\n"
        with open(results, "a") as f:
            f.write(prefix + text + "\n")
        print(f"appended to {results}")


if __name__ == "__main__":
    main()
