"""Save the model whenever the monitored validation score improves."""

import json
import math
import os
import warnings

import keras

from kseg._io import atomic_path, atomic_write_json
from kseg.training.distillation import student_of

MODES = ("auto", "max", "min")


def resolve_mode(monitor, mode):
    """"max" or "min" for ``monitor``; "auto" means "min" for losses, else "max"."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
    if mode == "auto":
        return "min" if "loss" in monitor else "max"
    return mode


class BestCheckpoint(keras.callbacks.Callback):
    """Save the whole model (``.keras``) each time ``monitor`` improves.

    The model is written to a temporary ``.keras`` file in the same directory
    and moved into place with ``os.replace`` (``kseg._io``), so ``filepath``
    is always a complete model, even if the process is killed while saving.
    A :class:`~kseg.training.distillation.Distiller` saves its student only
    (no teacher, no optimizer state): the file loads and predicts with plain
    ``keras.saving.load_model``, like any other run's checkpoint.
    The best value and its epoch go to ``filepath + ".json"`` (read it with
    ``BestCheckpoint.read_state``), which lets a run resumed
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
        state = self.read_state(self.filepath) if epoch > 0 else None
        if state and state["monitor"] == self.monitor and state["mode"] == self.mode:
            self.best, self.best_epoch = state["best"], state["epoch"]

    @staticmethod
    def read_state(filepath):
        """The state a ``BestCheckpoint`` saving to ``filepath`` wrote, or None if there is none.

        Args:
            filepath: the checkpoint path (``.../best.keras``); the state is
                ``filepath + ".json"``.

        Returns:
            ``{"monitor": str, "mode": "max" | "min", "best": float, "epoch": int}``
            (``epoch`` 0-based) or None when no checkpoint was written yet.

        Raises:
            ValueError: the state file is not such a mapping (the message names it).
        """
        path = os.fspath(filepath) + ".json"
        if not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
            state = {
                "monitor": str(state["monitor"]), "mode": resolve_mode(state["monitor"], state["mode"]),
                "best": float(state["best"]), "epoch": int(state["epoch"]),
            }
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"Checkpoint state {path!r} is not a BestCheckpoint state "
                f"(monitor, mode, best, epoch): {type(error).__name__}: {error}"
            ) from None
        return state

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
        atomic_write_json(
            self.state_path, {"monitor": self.monitor, "mode": self.mode, "best": value, "epoch": epoch}
        )
        if self.verbose:
            was = "none" if previous is None else f"{previous:.5f}"
            print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {was} to {value:.5f}; "
                  f"saved {self.filepath}")

    def _save(self):
        os.makedirs(os.path.dirname(os.path.abspath(self.filepath)), exist_ok=True)
        # Keras insists on the .keras suffix, so the temporary name keeps it.
        with atomic_path(self.filepath, suffix=".keras") as tmp:
            student_of(self.model).save(tmp)
