"""Shared helpers for the benchmark figures: machine facts, timing, RESULTS.md.

Timing rule used by every figure: candidates are measured *interleaved*
(round-robin, one call of each per round) after warm-up calls, and the
median per-call time is reported, so that load from other processes on a
shared machine hits every candidate alike.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"


def cpu_model():
    """CPU model name from /proc/cpuinfo (or platform), e.g. ``'AMD EPYC'``."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine():
    """One line: CPU model, visible cores, OS."""
    return f"{cpu_model()}, {os.cpu_count()} cores visible, {platform.system()} {platform.release()}"


def package_version(module):
    """``module.__version__`` or ``'not installed'`` (never raises)."""
    try:
        return getattr(importlib.import_module(module), "__version__", "unknown")
    except Exception:  # a broken install is as good as a missing one here
        return "not installed"


def versions():
    """One line with the versions that matter for the figures."""
    names = [("tensorflow", "tensorflow"), ("keras", "keras"), ("keras-hub", "keras_hub"),
             ("keras-cv", "keras_cv"), ("ai-edge-litert", "ai_edge_litert"), ("numpy", "numpy")]
    return f"Python {platform.python_version()}, " + ", ".join(
        f"{label} {package_version(module)}" for label, module in names
    )


def load():
    """1-minute load average (the machine is shared; report it beside timings)."""
    return os.getloadavg()[0]


def section(title, *, quick, settings, load_before, body):
    """A dated markdown section for RESULTS.md (title, machine, versions, table...)."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        f"## {title}, {stamp}{' (--quick)' if quick else ''}",
        "",
        f"- Machine: {machine()}.",
        f"- Versions: {versions()}.",
        f"- Settings: {settings}",
        f"- Load average (1 min) before/after: {load_before:.1f} / {load():.1f} on "
        f"{os.cpu_count()} cores: the machine is shared, so absolute figures are lower "
        "bounds; ratios come from interleaved measurements in one process.",
        "",
        *body,
        "",
    ]
    return "\n".join(lines)


def append_results(text, path=RESULTS):
    """Append ``text`` (one or more sections) to RESULTS.md; never rewrites it."""
    path = Path(path)
    prefix = "" if path.exists() else "# Benchmark results\n\n"
    with open(path, "a") as handle:
        handle.write(prefix + text.rstrip("\n") + "\n\n")


def interleaved(candidates, *, warmup=1, rounds=5):
    """Median seconds per call of each candidate, measured round-robin.

    Args:
        candidates: dict name -> zero-argument callable (one step).
        warmup: untimed calls of each candidate first (tracing, allocation).
        rounds: timed rounds; each round calls every candidate once.

    Returns:
        dict name -> median seconds per call (float).
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(f"rounds must be >= 1 and warmup >= 0, got {rounds}, {warmup}.")
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def table(header, rows):
    """Markdown table lines from a header tuple and row tuples (already formatted)."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows],
    ]


def fmt(value, digits=2):
    """Number for a table; None -> 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f}"


def figure_main(run, doc, quick_help, argv=None):
    """The command line every figure module shares: ``[--quick] [--no-append]``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args(argv)
    text, _ = run(args.quick)
    print(text)
    if not args.no_append:
        append_results(text)
