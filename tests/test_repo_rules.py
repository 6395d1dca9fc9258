"""The repository stays lean: no training state in runs/, one version per shipped model, each a preset.

A run folder may hold resumable state while its run is in progress, when it says so: a tracked
``runs/<name>/IN_PROGRESS`` file naming the command that resumes it. Even then no file may exceed
20 MB; remove the state (and the marker) once the model ships.
"""

import subprocess
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parents[1]
MB = 1_000_000
RUN_FILE_LIMIT = 1 * MB           # configs, logs and curves fit; checkpoints do not
IN_PROGRESS_FILE_LIMIT = 20 * MB  # resumable state of a run that declares itself in progress
OUTSIDE_SAVED_MODELS_LIMIT = 20 * MB


def tracked_files(repo=REPO):
    """Repository-relative paths of the files git tracks (those present in the working tree)."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [PurePosixPath(p) for p in out.decode().split("\0") if p and (repo / p).is_file()]


def rule_violations(files, repo=REPO):
    """Human-readable breaches of the repository rules among ``files`` (paths relative to ``repo``)."""
    problems = []
    in_progress = {}
    for path in files:
        if len(path.parts) == 3 and path.parts[0] == "runs" and path.name == "IN_PROGRESS":
            in_progress[path.parts[1]] = (repo / path).read_text()
    for run, text in sorted(in_progress.items()):
        if "python -m pipelines.train" not in text:
            problems.append(f"runs/{run}/IN_PROGRESS must name the command that resumes the run")
    versions = {}
    for path in files:
        size = (repo / path).stat().st_size
        if path.parts[0] == "runs" and len(path.parts) > 1:
            limit = IN_PROGRESS_FILE_LIMIT if path.parts[1] in in_progress else RUN_FILE_LIMIT
            if size > limit:
                problems.append(f"{path}: {size / MB:.1f} MB of training state in runs/ (limit {limit // MB} MB"
                                + ("" if path.parts[1] in in_progress else "; a run in progress may declare "
                                   f"itself with runs/{path.parts[1]}/IN_PROGRESS") + ")")
        elif path.parts[0] != "saved_models" and size > OUTSIDE_SAVED_MODELS_LIMIT:
            problems.append(f"{path}: {size / MB:.1f} MB outside saved_models/ (limit 20 MB)")
        if path.parts[0] == "saved_models" and len(path.parts) > 3 and path.parts[2].isdigit():
            versions.setdefault(path.parts[1], set()).add(path.parts[2])
    for family, found in sorted(versions.items()):
        if len(found) > 1:
            problems.append(f"saved_models/{family} ships {len(found)} versions {sorted(found, key=int)}: keep the "
                            "latest (older ones stay in git history)")
        for version in sorted(found, key=int):
            if PurePosixPath("saved_models", family, version, "preset", "preset.json") not in files:
                problems.append(f"saved_models/{family}/{version} has no preset (preset/preset.json)")
    return problems


def test_repository_follows_its_rules():
    assert rule_violations(tracked_files()) == []


def test_rules_catch_each_breach(tmp_path):
    def put(path, size=10, text=None):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(text.encode() if text is not None else b"\0" * size)
        return PurePosixPath(path)

    files = [
        put("runs/old/best.keras", 2 * MB),
        put("runs/old/training_log.csv", 1000),
        put("runs/live/IN_PROGRESS", text="python -m pipelines.train --config configs/x.yaml\n"),
        put("runs/live/backup/state.weights.h5", 15 * MB),
        put("runs/live/backup/huge.bin", 21 * MB),
        put("runs/vague/IN_PROGRESS", text="still going\n"),
        put("saved_models/m/1/saved_model.pb"),
        put("saved_models/m/2/saved_model.pb"),
        put("saved_models/m/2/preset/preset.json"),
        put("data/big.bin", 21 * MB),
    ]
    assert rule_violations(files, repo=tmp_path) == [
        "runs/vague/IN_PROGRESS must name the command that resumes the run",
        "runs/old/best.keras: 2.0 MB of training state in runs/ (limit 1 MB; a run in progress may declare itself "
        "with runs/old/IN_PROGRESS)",
        "runs/live/backup/huge.bin: 21.0 MB of training state in runs/ (limit 20 MB)",
        "data/big.bin: 21.0 MB outside saved_models/ (limit 20 MB)",
        "saved_models/m ships 2 versions ['1', '2']: keep the latest (older ones stay in git history)",
        "saved_models/m/1 has no preset (preset/preset.json)",
    ]
