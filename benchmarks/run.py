"""Run all five benchmark figures and append them to benchmarks/RESULTS.md.

    python -m benchmarks.run [--quick] [--only peers,roofline,...] [--no-append]

Figures: 1 peers (kseg vs keras-hub vs keras-cv DeepLabV3+, and kseg's
speed levers), 2 roofline (FLOPs of every model, fraction of matmul peak),
3 deployment (SavedModel vs TFLite fp32/fp16/int8), 4 input pipeline
(CamVid supply vs training demand), 5 scaling (time vs input size and
batch, benchmarks/scaling.png).

``--quick`` (under 10 minutes on 2 otherwise idle cores; about twice that
when other jobs share them): 1 warm-up step and 2-5 timed rounds per
candidate instead of 8-20, no XLA training step in figure 1, batch 1 in
figure 2, only the two DeepLabV3+ MobileNetV2 variants and 4 fit steps
before export in figure 3, 8 pipeline batches in figure 4, sizes
128/512/1024 (inference) and 128/256/512 (training) and batches 1 and 4 in
figure 5. Every figure runs even if another fails; a
failure is reported in the output and in RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import _common as C  # noqa: E402

FIGURES = ("peers", "roofline", "deployment", "input_pipeline", "scaling")


def _log(message):
    print(message, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="all figures in about 10 minutes on 2 cores")
    parser.add_argument("--only", default=",".join(FIGURES),
                        help=f"comma-separated subset of {', '.join(FIGURES)}")
    parser.add_argument("--no-append", action="store_true", help="print only, do not append to RESULTS.md")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(FIGURES))
    if unknown:
        parser.error(f"--only: unknown figure(s) {unknown}; choose from {', '.join(FIGURES)}.")

    _log(f"kseg benchmarks{' --quick' if args.quick else ''}: {', '.join(chosen)}")
    _log(f"machine: {C.machine()}; load average (1 min) {C.load():.1f}")
    _log(f"versions: {C.versions()}")
    if args.quick:
        _log("quick = fewer warm-up steps and timed rounds, fewer sizes/batches, no XLA training step "
             "(see `python -m benchmarks.run --help`); ratios are still interleaved in one process.")
    start = time.perf_counter()
    sections, timings = [], []
    for name in chosen:
        began = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            text, _ = module.run(quick=args.quick, log=_log)
        except Exception as error:  # one broken figure must not hide the others
            traceback.print_exc()
            text = (f"## Figure {name} FAILED (issue 8)\n\n- Machine: {C.machine()}.\n- Versions: {C.versions()}.\n"
                    f"- Error: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}\n")
        timings.append((name, time.perf_counter() - began))
        _log(text)
        sections.append(text)
        if not args.no_append:
            C.append_results(text)  # per figure, so an interrupted run keeps what it measured
    _log("wall time per figure: " + ", ".join(f"{n} {t:.0f} s" for n, t in timings) +
         f"; total {time.perf_counter() - start:.0f} s; load average now {C.load():.1f}")
    if not args.no_append:
        _log(f"appended {len(sections)} section(s) to {C.RESULTS}")


if __name__ == "__main__":
    main()
