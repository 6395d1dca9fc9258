"""kseg._io: atomic writes leave the old file or the new one, never a part; one writable-folder check."""

import json
import os
import re

import numpy as np
import pytest

from kseg import _io


def test_atomic_writes_round_trip(tmp_path):
    assert _io.atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01") == str(tmp_path / "a.bin")
    _io.atomic_write_text(tmp_path / "a.txt", "héllo\n")
    _io.atomic_write_json(tmp_path / "a.json", {"miou": 0.5, "names": ["sky"]})
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "a.txt").read_bytes() == "héllo\n".encode("utf-8")
    assert json.loads((tmp_path / "a.json").read_text()) == {"miou": 0.5, "names": ["sky"]}
    _io.atomic_write_text(tmp_path / "a.txt", "second")
    assert (tmp_path / "a.txt").read_text() == "second"
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "a.json", "a.txt"]


def test_a_failing_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _io.atomic_write_text(target, "new and longer")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_failing_write_of_a_new_file_leaves_nothing(tmp_path):
    with pytest.raises(TypeError, match="not JSON serializable"):
        _io.atomic_write_json(tmp_path / "r.json", {"x": np.float32(1)})
    with pytest.raises(TypeError, match="must be a str"):
        _io.atomic_write_text(tmp_path / "r.txt", b"bytes")
    with pytest.raises(ZeroDivisionError):
        with _io.atomic_path(tmp_path / "m.keras", suffix=".keras") as tmp:
            assert tmp.endswith(".keras") and os.path.dirname(tmp) == str(tmp_path)
            with open(tmp, "wb") as f:
                f.write(b"partial")
            1 / 0
    assert os.listdir(tmp_path) == []


def test_atomic_path_moves_the_written_file_into_place(tmp_path):
    with _io.atomic_path(tmp_path / "m.keras", suffix=".keras") as tmp:
        with open(tmp, "wb") as f:
            f.write(b"model")
        assert not (tmp_path / "m.keras").exists()
    assert (tmp_path / "m.keras").read_bytes() == b"model"
    assert os.listdir(tmp_path) == ["m.keras"]


def test_atomic_files_get_the_permissions_of_a_plain_open(tmp_path):
    """Not mkstemp's 0600: a published model must be readable by the serving user."""
    old = os.umask(0o022)
    try:
        with open(tmp_path / "plain", "wb"):
            pass
        _io.atomic_write_text(tmp_path / "atomic.txt", "x")
        with _io.atomic_path(tmp_path / "m.keras", suffix=".keras") as tmp:
            open(tmp, "wb").close()
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"plain": 0o644, "atomic.txt": 0o644, "m.keras": 0o644}, modes


def test_check_writable_dir_creates_the_folder_and_names_it_in_errors(tmp_path):
    made = tmp_path / "a" / "b"
    assert _io.check_writable_dir(made) == str(made) and made.is_dir()
    assert os.listdir(made) == []  # the write probe is gone
    blocker = tmp_path / "file"
    blocker.write_text("x")
    message = f"Output directory '{blocker}' exists and is not a directory"
    with pytest.raises(NotADirectoryError, match=re.escape(message)):
        _io.check_writable_dir(blocker)
    with pytest.raises(NotADirectoryError, match=re.escape(f"model directory '{blocker / 'sub'}' is not writable")):
        _io.check_writable_dir(blocker / "sub", "model directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_check_writable_dir_read_only(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        message = f"Output directory '{locked}' is not writable: Permission denied"
        with pytest.raises(PermissionError, match=re.escape(message)):
            _io.check_writable_dir(locked)
    finally:
        locked.chmod(0o700)


def test_check_writable_dir_when_creating_a_file_fails(tmp_path, monkeypatch):
    # What a read-only mount looks like, even to root.
    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(_io.tempfile, "NamedTemporaryFile", read_only)
    message = f"Output directory '{tmp_path}' is not writable: Read-only file system"
    with pytest.raises(PermissionError, match=re.escape(message)):
        _io.check_writable_dir(tmp_path)


def test_pid_alive():
    assert _io.pid_alive(os.getpid())
    assert not _io.pid_alive(2**22 + 12345)  # above the kernel's pid_max
