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


def artefact_size_mb(path):
    """Size in MB (10^6 bytes) of a file, or of a SavedModel directory without the
    ``.tflite`` / ``.onnx`` files stored beside it: ``kseg.export.size_mb``, the one definition."""
    from kseg.export._contract import size_mb

    return size_mb(path)


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


# Results that outlive a run: a per-run cache, an archive beside a report, a report's hand-written part.

def write_text(path, text):
    """Write ``text`` to ``path`` atomically (``kseg._io``), creating its folder."""
    from kseg._io import atomic_write_text

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def cached_result(path, settings, hint="Pass another --workdir or delete its folder"):
    """The JSON result stored at ``path`` (None if absent); stored under other ``settings``: ValueError."""
    import json

    path = Path(path)
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        stored = json.load(f)
    if stored.get("settings") != settings:
        raise ValueError(f"{path} was produced with other settings ({stored.get('settings')}); these runs would "
                         f"not be comparable. {hint}: {path.parent}.")
    return stored


def archive_path(output):
    """Where the results behind the report ``output`` are archived: the same name, ``.json``."""
    return Path(output).with_suffix(".json")


def load_archive(path, settings, what="a results archive", log=print):
    """{name: result} of the archive at ``path`` whose ``settings`` equal ``settings``; others skipped (and said).

    Raises:
        ValueError: ``path`` exists but is not such an archive (``{"results": [{"name": ...}, ...]}``).
    """
    import json

    path = Path(path)
    if not path.is_file():
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)["results"]
        names = [entry["name"] for entry in entries]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not {what} ({type(error).__name__}: {error}); "
                         "delete it or pass another --output.") from None
    kept = {entry["name"]: entry for entry in entries if entry.get("settings") == settings}
    skipped = [name for name in names if name not in kept]
    if skipped:
        log(f"{path}: not reusing {', '.join(skipped)} (produced with other settings)")
    return kept


def write_archive(path, results, archived, generator):
    """Archive ``results`` plus the earlier same-settings ``archived`` results this run did not show."""
    import json

    shown = {r["name"] for r in results}
    kept = results + [r for name, r in archived.items() if name not in shown]
    write_text(path, json.dumps({"generator": generator, "results": kept}, indent=2) + "\n")


HAND_WRITTEN = "## Conclusion"


def keep_hand_written(path, text, heading=HAND_WRITTEN):
    """``text`` plus the hand-written section (from ``heading`` on) of the report already at ``path``.

    The table is regenerated on every run; the human reading of it stays
    (check it still matches the new numbers).
    """
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    start = old.find("\n" + heading)
    return text if start < 0 else text.rstrip("\n") + "\n" + old[start:]
