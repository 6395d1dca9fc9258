"""Smoke tests of the benchmark helpers (no timing assertions: benchmarks are
not timed unit tests; the figures themselves run via benchmarks.run)."""

import numpy as np
import pytest

from benchmarks import _common as C
from benchmarks import input_pipeline, run, scaling


def test_interleaved_runs_round_robin_and_validates():
    calls = []
    seconds = C.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, warmup=1, rounds=3)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up of each, then one call of each per round
    assert set(seconds) == {"a", "b"} and all(s >= 0 for s in seconds.values())
    with pytest.raises(ValueError, match="rounds"):
        C.interleaved({"a": lambda: None}, rounds=0)


def test_append_results_adds_header_once_and_appends(tmp_path):
    path = tmp_path / "RESULTS.md"
    C.append_results("## one\n", path)
    C.append_results("## two\n", path)
    assert path.read_text() == "# Benchmark results\n\n## one\n\n## two\n\n"


def test_section_names_machine_versions_and_quick():
    text = C.section("Figure X", quick=True, settings="s", load_before=1.0, body=["| a |"])
    assert "(--quick)" in text and "Machine:" in text and "tensorflow" in text and "keras-hub" in text


def test_scaling_exponent_and_plot(tmp_path):
    # time ~ pixels^1 exactly -> exponent 1; pixels^0.5 -> 0.5
    assert scaling._exponent([(s, 1e-6 * s * s) for s in (128, 256, 512)]) == pytest.approx(1.0)
    assert scaling._exponent([(s, 1e-3 * s) for s in (128, 256, 512)]) == pytest.approx(0.5)
    entry = {"size": {m: [(128, 0.01), (256, 0.04)] for m in ("train", "infer")},
             "batch": {m: [(1, 0.02), (2, 0.015)] for m in ("train", "infer")}}
    path = scaling.plot({"A": entry, "B": entry}, tmp_path / "s.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_throughput_table_is_parsed(monkeypatch):
    class Done:
        returncode = 0
        stderr = ""
        stdout = "## x\n\n| pipeline | images/s |\n|---|---|\n| decode only | 60.3 |\n| cached | 295.5 |\n"

    monkeypatch.setattr(input_pipeline.subprocess, "run", lambda *a, **k: Done())
    assert input_pipeline.data_throughput_rows(3) == [("decode only", 60.3), ("cached", 295.5)]


def test_run_rejects_unknown_figure():
    with pytest.raises(SystemExit):
        run.main(["--only", "peers,nonsense", "--no-append"])


def test_fmt():
    assert C.fmt(None) == "n/a" and C.fmt(1.234) == "1.23" and C.fmt(np.float32(2.0), 1) == "2.0"
