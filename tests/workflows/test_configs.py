"""Every committed training config is valid as it stands (names, values, and the init_weights file
a resumable stage starts from), read from the repository root as the README runs them."""

import json
import re
from pathlib import Path

import pytest

from kseg.data import soft_labels
from kseg.workflows import make_config
from kseg.workflows.config import read_config_file

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p.name for p in (REPO / "configs").iterdir() if p.suffix in (".yaml", ".yml", ".toml"))


def _output(name):
    return read_config_file(REPO / "configs" / name).get("output")


@pytest.mark.parametrize("name", CONFIGS)
def test_committed_config_validates(name, monkeypatch, tmp_path):
    """A stage starts either from a committed checkpoint (its run resumes next session), from the
    best.keras or last.keras of another config's run (the README runs that one first), or from a file
    removed from the tree (an older shipped version) that the config's own `git show REV:PATH` restores.
    A teacher_cache
    (gitignored, hundreds of MB) is either there or rebuilt by the pipelines.teacher_cache command the
    config itself gives."""
    monkeypatch.chdir(REPO)
    text = (REPO / "configs" / name).read_text(encoding="utf-8")
    config = read_config_file(f"configs/{name}")
    overrides = {}
    init = config.get("init_weights")
    produced = {f"{_output(other)}/{file}" for other in CONFIGS if other != name
                for file in ("best.keras", "last.keras")}
    if init and not (REPO / init).is_file():
        assert init in produced or re.search(rf"git show [0-9a-f]{{7,40}}:{re.escape(init)}\b", text), (
            f"{name}: init_weights {init} is neither committed, made by another config, nor restored by a "
            "`git show REV:PATH` the config gives")
        stand_in = tmp_path / "best.keras"  # validate() checks only that the file is there
        stand_in.touch()
        overrides["init_weights"] = str(stand_in)
    cache = config.get("teacher_cache")
    if cache and not (REPO / cache / soft_labels.INDEX).is_file():
        assert "pipelines.teacher_cache" in text and f"--output {cache}" in text, (
            f"{name}: teacher_cache {cache} is not there and the config does not give the command that writes it")
        stand_in = tmp_path / "cache"
        stand_in.mkdir()
        (stand_in / soft_labels.INDEX).write_text(json.dumps({"format": soft_labels.FORMAT, "num_classes": 11}))
        overrides["teacher_cache"] = str(stand_in)
    make_config(f"configs/{name}", **overrides)  # raises on a bad value or a file that is not there


def test_each_config_writes_its_own_run_folder():
    # Two configs sharing an output folder would resume each other's BackupAndRestore state.
    outputs = [_output(name) for name in CONFIGS]
    assert None not in outputs and len(set(outputs)) == len(outputs), dict(zip(CONFIGS, outputs))
