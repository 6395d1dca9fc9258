"""A training process killed with SIGKILL resumes from its last completed epoch."""

import csv
import signal

import pytest

from _training_subprocess import finish, run, start, wait_for

EPOCHS = 4
KILL_AFTER = 1  # 0-based epoch after which the first run is killed


@pytest.mark.slow
def test_sigkill_then_restart_resumes(tmp_path):
    first = start("resume_run.py", tmp_path, EPOCHS, KILL_AFTER)
    wait_for(tmp_path / f"epoch_{KILL_AFTER}.done", first, timeout=240)
    first.send_signal(signal.SIGKILL)
    code, _ = finish(first, timeout=60)
    assert code == -signal.SIGKILL
    assert (tmp_path / "backup").is_dir()

    output = run("resume_run.py", tmp_path, EPOCHS, timeout=240)
    assert "finished" in output
    runs = [line.split() for line in (tmp_path / "ran.txt").read_text().splitlines()]
    pids = list(dict.fromkeys(pid for pid, _ in runs))
    assert len(pids) == 2
    # The restart ran only the remaining epochs, nothing from scratch.
    assert [int(e) for pid, e in runs if pid == pids[0]] == list(range(KILL_AFTER + 1))
    assert [int(e) for pid, e in runs if pid == pids[1]] == list(range(KILL_AFTER + 1, EPOCHS))
    with open(tmp_path / "training_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in rows] == list(range(EPOCHS))
    assert "val_miou" in rows[0]
    assert (tmp_path / "best.keras").exists()
    assert not (tmp_path / "backup").exists()  # BackupAndRestore cleans up after a completed fit
