"""Batch prediction engines side by side: the local engine vs Ray Data with 1 and 2 workers, images/s.

The same CamVid test images (the first N of test.txt, linked into a
temporary folder; the data never enters the repo) go through each engine
that ``kseg.inference.predict_many`` runs, in turn, round-robin, into fresh
output folders: read (header check, ``decode_image``), predict, write
the three PNGs. The model is the shipped DABNet fp32 ``.tflite`` at one
interpreter thread per worker, so a second worker is a second core. Each
run's wall time counts everything a user waits for: the model load (once
per worker) and, for Ray, the actor pool's start (Ray itself is started once,
before timing, with 2 CPUs and no dashboard). The outputs of every engine
are checked byte-equal.

Run (niced on a shared machine): ``nice -n 10 python -m benchmarks.predict_engines
[--quick] [--no-append] [--images 64] [--rounds 3] [--model PATH]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import kseg.models  # noqa: E402
from benchmarks import _common as C  # noqa: E402

CAMVID = C.REPO / ".." / "shared" / "data" / "camvid"
MODEL = Path(kseg.models.preset_info("camvid_dabnet")["saved_model"]) / "model_fp32.tflite"  # the shipped version
# name -> (engine, engine options)
ENGINES = {
    "local": ("local", {}),
    "ray, 1 worker": ("ray", {"workers": 1, "batch_size": 8}),
    "ray, 2 workers": ("ray", {"workers": 2, "batch_size": 8}),
}


def _link_images(camvid, count, folder):
    lines = (Path(camvid) / "test.txt").read_text().split("\n")
    names = [line.split()[0] for line in lines if line.strip()][:count]
    for name in names:
        os.symlink((Path(camvid) / name).resolve(), Path(folder) / Path(name).name)
    return len(names)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*.png"))}


def _timed(engine, spec, folder, out, engine_options):
    """(wall seconds, results) of one engine run over the images in ``folder``."""
    from kseg.inference import list_tasks
    from kseg.inference.predict import ENGINES as ENGINE_FUNCTIONS
    from kseg.inference.process import Options

    start = time.perf_counter()
    results = list(ENGINE_FUNCTIONS[engine](spec, list_tasks([folder], out), Options(), **engine_options))
    return time.perf_counter() - start, results


def run(quick, *, images=64, rounds=3, model=MODEL, camvid=CAMVID):
    import ray

    from kseg.inference import ModelSpec

    images, rounds = (8, 1) if quick else (images, rounds)
    load_before = C.load()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False,
             configure_logging=False)
    spec = ModelSpec(str(model), num_threads=1)
    wall = {name: [] for name in ENGINES}
    with tempfile.TemporaryDirectory(prefix="predict-engines-") as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        if _link_images(camvid, images, folder) != images:
            raise ValueError(f"{camvid}/test.txt lists fewer than {images} images.")
        outputs = {}
        for round_ in range(rounds):
            for name, (engine, engine_options) in ENGINES.items():
                out = Path(tmp) / f"{name.replace(', ', '-').replace(' ', '')}-{round_}"
                seconds, results = _timed(engine, spec, folder, out, engine_options)
                if sorted(r.status for r in results) != ["done"] * images:
                    raise RuntimeError(f"{name}: {[r for r in results if r.status != 'done']}")
                wall[name].append(seconds)
                outputs[name] = _files(out)
        equal = all(files == outputs["local"] for files in outputs.values())
    ray.shutdown()
    median = {name: statistics.median(values) for name, values in wall.items()}
    rows = [(name, C.fmt(median[name], 1), f"{min(wall[name]):.1f}-{max(wall[name]):.1f}",
             C.fmt(images / median[name], 2), C.fmt(median["local"] / median[name], 2)) for name in ENGINES]
    body = C.table(("engine", f"wall s, {images} images (median)", "min-max", "images/s", "vs local"), rows)
    body += ["", "Wall time is what a user waits for: model load and, for Ray, the actor pool's start included.",
             f"Class maps, masks and overlays of every engine byte-equal to the local engine's: "
             f"{'yes' if equal else 'NO'}."]
    shown = Path(model).relative_to(C.REPO) if Path(model).is_relative_to(C.REPO) else model
    settings = (f"the first {images} CamVid test images (360x480 PNG), model {shown} "
                f"(1 interpreter thread per worker), {rounds} round(s) round-robin; ray.init once before timing "
                "(2 CPUs, no dashboard), Ray batch size 8; `nice -n 10`.")
    return C.section("Batch prediction engines: local vs Ray Data (issue 28)", quick=quick, settings=settings,
                     load_before=load_before, body=body), wall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 images, one round")
    parser.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default=str(MODEL))
    parser.add_argument("--camvid", default=str(CAMVID))
    args = parser.parse_args(argv)
    text, _ = run(args.quick, images=args.images, rounds=args.rounds, model=Path(args.model).resolve(),
                  camvid=args.camvid)
    print(text)
    if not args.no_append:
        C.append_results(text)


if __name__ == "__main__":
    main()
