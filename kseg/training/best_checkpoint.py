"""Save the model whenever the monitored validation score improves."""

import json
import math
import os
import warnings

import keras

MODES = ("auto", "max", "min")


def resolve_mode(monitor, mode):
    """"max" or "min" for ``monitor``; "auto" means "min" for losses, else "max"."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
    if mode == "auto":
        return "min" if "loss" in monitor else "max"
    return mode


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` so readers never see a partial file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class BestCheckpoint(keras.callbacks.Callback):
    """Save the whole model (``.keras``) each time ``monitor`` improves.

    The model is written to a temporary ``.keras`` file in the same directory
    and moved into place with ``os.replace``, so ``filepath`` is always a
    complete model, even if the process is killed while saving. The best
    value and its epoch go to ``filepath + ".json"``, which lets a run resumed
    by ``keras.callbacks.BackupAndRestore`` (its first epoch is > 0) keep
    comparing against the best of the interrupted run; a run that starts at
    epoch 0 starts afresh.

    Args:
        filepath: destination, must end in ".keras".
        monitor: key in the epoch logs, default "val_miou" (the name of
            ``kseg.metrics.MeanIoU`` on validation data).
        mode: "max", "min", or "auto" ("min" if the name contains "loss").
        verbose: 1 prints a line when a checkpoint is written.

    Attributes after training: ``best`` (float or None) and ``best_epoch``
    (0-based int or None).
    """

    def __init__(self, filepath, monitor="val_miou", mode="auto", verbose=1):
        super().__init__()
        filepath = os.fspath(filepath)
        if not filepath.endswith(".keras"):
            raise ValueError(f"filepath must end in '.keras', got {filepath!r}.")
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be a non-empty string, got {monitor!r}.")
        self.filepath = filepath
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.verbose = int(verbose)
        self.state_path = filepath + ".json"
        self.best = None
        self.best_epoch = None
        self._first_epoch = None
        self._warned = False

    def on_train_begin(self, logs=None):
        self._first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch is not None:
            return
        self._first_epoch = epoch
        self.best, self.best_epoch = None, None
        if epoch > 0 and os.path.exists(self.state_path):
            with open(self.state_path, encoding="utf-8") as f:
                state = json.load(f)
            if state.get("monitor") == self.monitor and state.get("mode") == self.mode:
                self.best, self.best_epoch = state["best"], state["epoch"]

    def _improved(self, value):
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"BestCheckpoint: '{self.monitor}' is not in the epoch logs (keys: "
                    f"{', '.join(sorted(logs))}); no checkpoint is written. Pass validation "
                    "data and a metric with that name.",
                    stacklevel=2,
                )
            return
        value = float(logs[self.monitor])
        if math.isnan(value) or not self._improved(value):
            return
        previous = self.best
        self._save()
        self.best, self.best_epoch = value, epoch
        atomic_write_text(
            self.state_path,
            json.dumps({"monitor": self.monitor, "mode": self.mode, "best": value, "epoch": epoch}),
        )
        if self.verbose:
            was = "none" if previous is None else f"{previous:.5f}"
            print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {was} to {value:.5f}; "
                  f"saved {self.filepath}")

    def _save(self):
        directory = os.path.dirname(os.path.abspath(self.filepath))
        os.makedirs(directory, exist_ok=True)
        base = os.path.basename(self.filepath)[: -len(".keras")]
        # Keras insists on the .keras suffix, so the temporary name keeps it.
        tmp = os.path.join(directory, f".{base}.{os.getpid()}.tmp.keras")
        try:
            self.model.save(tmp)
            os.replace(tmp, self.filepath)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
