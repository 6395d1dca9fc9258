import csv
import json
import os

import numpy as np
import pytest

import keras

from kseg.training import BestCheckpoint, ResumableCSVLogger, standard_callbacks


class ScriptedLogs(keras.callbacks.Callback):
    """Feeds fixed values of ``key`` (val_miou) into the epoch logs."""

    def __init__(self, values, key="val_miou"):
        super().__init__()
        self.values, self.key = values, key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


def tiny_model():
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    return model


def fit(model, callbacks, epochs, initial_epoch=0):
    x = np.zeros((2, 4, 4, 3), np.float32)
    y = np.zeros((2, 4, 4, 2), np.float32)
    model.fit(x, y, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0)


class SaveSpy(BestCheckpoint):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.saved_epochs = []

    def _save(self):
        super()._save()
        self.saved_epochs.append(self.epoch_in_progress)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_in_progress = epoch
        super().on_epoch_end(epoch, logs)


def test_best_checkpoint_only_on_improvement(tmp_path):
    path = tmp_path / "best.keras"
    spy = SaveSpy(path, verbose=0)
    fit(tiny_model(), [ScriptedLogs([0.2, 0.5, 0.4, 0.5, 0.7]), spy], epochs=5)
    assert spy.saved_epochs == [0, 1, 4]
    assert (spy.best, spy.best_epoch) == (0.7, 4)
    assert json.loads((tmp_path / "best.keras.json").read_text())["epoch"] == 4
    assert isinstance(keras.saving.load_model(path), keras.Model)
    assert sorted(os.listdir(tmp_path)) == ["best.keras", "best.keras.json"]  # no temp leftovers
    assert BestCheckpoint.read_state(path) == {"monitor": "val_miou", "mode": "max", "best": 0.7, "epoch": 4}


def test_read_state_without_and_with_a_broken_state_file(tmp_path):
    path = tmp_path / "best.keras"
    assert BestCheckpoint.read_state(path) is None
    (tmp_path / "best.keras.json").write_text('{"monitor": "val_miou", "value": 0.5, "epoch": 1}')
    with pytest.raises(ValueError, match="best.keras.json' is not a BestCheckpoint state.*KeyError: 'mode'"):
        BestCheckpoint.read_state(path)
    (tmp_path / "best.keras.json").write_text("{not json")
    with pytest.raises(ValueError, match="best.keras.json' is not a BestCheckpoint state"):
        BestCheckpoint.read_state(str(path))


def test_best_checkpoint_min_mode_and_resume(tmp_path):
    path = tmp_path / "best.keras"
    spy = SaveSpy(path, monitor="val_loss", verbose=0)
    assert spy.mode == "min"
    logs = ScriptedLogs([0.0] * 6)
    model = tiny_model()

    fit(model, [logs, ScriptedLogs([3.0, 1.0, 2.0], key="val_loss"), spy], epochs=3)
    assert spy.saved_epochs == [0, 1]
    # A resumed run (first epoch 3 > 0) keeps comparing with the stored best 1.0.
    resumed = SaveSpy(path, monitor="val_loss", verbose=0)
    fit(model, [logs, ScriptedLogs([0, 0, 0, 1.5, 0.5], key="val_loss"), resumed], epochs=5, initial_epoch=3)
    assert resumed.saved_epochs == [4]
    # A fresh run starts over.
    fresh = SaveSpy(path, monitor="val_loss", verbose=0)
    fit(model, [logs, ScriptedLogs([5.0], key="val_loss"), fresh], epochs=1)
    assert fresh.saved_epochs == [0]


def test_best_checkpoint_missing_monitor_warns(tmp_path):
    with pytest.warns(UserWarning, match="'val_miou' is not in the epoch logs"):
        fit(tiny_model(), [BestCheckpoint(tmp_path / "b.keras")], epochs=2)
    assert not (tmp_path / "b.keras").exists()


def test_best_checkpoint_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=".keras"):
        BestCheckpoint(tmp_path / "best.h5")
    with pytest.raises(ValueError, match="mode"):
        BestCheckpoint(tmp_path / "best.keras", mode="biggest")


def read_epochs(path):
    with open(path) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_resumable_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    model = tiny_model()
    fit(model, [ResumableCSVLogger(path)], epochs=3)
    assert read_epochs(path) == [0, 1, 2]
    fit(model, [ResumableCSVLogger(path)], epochs=4, initial_epoch=2)  # resumes at 2
    assert read_epochs(path) == [0, 1, 2, 3]
    fit(model, [ResumableCSVLogger(path)], epochs=1)  # fresh run
    assert read_epochs(path) == [0]


def test_standard_callbacks(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    out = tmp_path / "run"
    cbs = standard_callbacks(out)
    assert [type(c).__name__ for c in cbs] == [
        "BackupAndRestore", "BestCheckpoint", "TensorBoard", "TerminateOnNaN", "ResumableCSVLogger"]
    assert cbs[0].backup_dir == str(out / "backup")
    assert [type(c).__name__ for c in standard_callbacks(out, tensorboard=False)][2] == "TerminateOnNaN"
    worker = standard_callbacks(out, chief=False)
    assert [type(c).__name__ for c in worker] == ["BackupAndRestore", "TerminateOnNaN"]
    assert worker[0].backup_dir != cbs[0].backup_dir
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        standard_callbacks(blocker)
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match="not writable"):
            standard_callbacks(locked / "sub")


def test_failed_save_keeps_previous_best(tmp_path, monkeypatch):
    path = tmp_path / "best.keras"
    model = tiny_model()
    checkpoint = BestCheckpoint(path, verbose=0)
    fit(model, [ScriptedLogs([0.1]), checkpoint], epochs=1)
    good = path.read_bytes()

    def broken_save(filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        fit(model, [ScriptedLogs([0.9]), BestCheckpoint(path, verbose=0)], epochs=1)
    assert path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == ["best.keras", "best.keras.json"]
    assert json.loads((tmp_path / "best.keras.json").read_text())["best"] == pytest.approx(0.1)


def test_standard_callbacks_log_vector_metrics_per_class(tmp_path, monkeypatch):
    from kseg import losses, metrics

    monkeypatch.delenv("TF_CONFIG", raising=False)
    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 3, (4, 8, 8))
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    model.compile("sgd", losses.CrossEntropy(), metrics=[metrics.MeanIoU(3), metrics.PerClassIoU(3)])
    model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0,
              callbacks=standard_callbacks(tmp_path, verbose=0))
    with open(tmp_path / "training_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert {"per_class_iou/0", "per_class_iou/2", "val_per_class_iou/1", "val_miou"} <= set(rows[0])
    assert os.listdir(tmp_path / "logs")
    assert (tmp_path / "best.keras").exists()
