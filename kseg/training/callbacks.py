"""The standard callback set of a kseg training run."""

import os

import keras
import numpy as np

# One writable-folder check (and one error message) for all of kseg; kept
# here under the name kseg.training has always exported.
from kseg._io import atomic_write_text
from kseg._io import check_writable_dir as ensure_writable_dir
from kseg.training.best_checkpoint import BestCheckpoint
from kseg.training.strategy import is_chief, task_id


class ResumableCSVLogger(keras.callbacks.CSVLogger):
    """``CSVLogger(append=True)`` that knows a resumed run from a fresh one.

    The file is opened when the first epoch begins: a run starting at epoch
    0 starts a new log (an old log in the same directory is replaced); a run
    resumed by ``BackupAndRestore`` (first epoch > 0) appends to it, dropping
    any rows of epochs it is about to run again, so every epoch appears once.

    Args:
        filename: CSV path.
        separator: column separator.
    """

    def __init__(self, filename, separator=","):
        super().__init__(os.fspath(filename), separator=separator, append=True)

    def on_epoch_end(self, epoch, logs=None):
        # One column per class keeps the file loadable as a plain numeric table.
        super().on_epoch_end(epoch, scalar_logs(logs))

    def on_train_begin(self, logs=None):
        self._started = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._started:
            return
        self._started = True
        if epoch == 0 and os.path.exists(self.filename):
            os.remove(self.filename)
        elif os.path.exists(self.filename):
            self._drop_rows_from(epoch)
        super().on_train_begin(logs)

    def _drop_rows_from(self, epoch):
        with open(self.filename, encoding="utf-8") as f:
            lines = f.read().splitlines()
        if not lines:
            return
        kept = [lines[0]] + [
            line for line in lines[1:]
            if line.split(self.sep, 1)[0].isdigit() and int(line.split(self.sep, 1)[0]) < epoch
        ]
        if len(kept) != len(lines):
            atomic_write_text(self.filename, "\n".join(kept) + "\n")


def scalar_logs(logs):
    """``logs`` with every vector value split into one scalar per entry.

    ``kseg.metrics.PerClassIoU`` logs a ``(C,)`` vector under its name; it
    becomes ``name/0``, ``name/1``, ... so scalar-only loggers can record it.
    """
    if not logs:
        return logs
    flat = {}
    for key, value in logs.items():
        array = np.asarray(value)
        if array.ndim == 0:
            flat[key] = value
        else:
            flat.update({f"{key}/{i}": float(v) for i, v in enumerate(array.ravel())})
    return flat


class TensorBoard(keras.callbacks.TensorBoard):
    """``keras.callbacks.TensorBoard`` that also records vector metrics.

    Keras' TensorBoard accepts only scalars and fails on
    ``kseg.metrics.PerClassIoU``; here such a metric is written as one curve
    per class (``per_class_iou/0``, ...). Arguments as for Keras' callback.
    """

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, scalar_logs(logs))

    def on_test_end(self, logs=None):
        super().on_test_end(scalar_logs(logs))

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, scalar_logs(logs))


def standard_callbacks(output_dir, *, monitor="val_miou", mode="auto", tensorboard=True,
                       checkpoint_name="best.keras", csv_name="training_log.csv",
                       backup_save_freq="epoch", chief=None, verbose=1):
    """Callbacks for a resumable, logged run that keeps its best model.

    Layout under ``output_dir``::

        backup/            BackupAndRestore state (deleted when fit completes)
        best.keras         best model by ``monitor`` (+ best.keras.json)
        logs/              TensorBoard event files
        training_log.csv   one row per epoch

    Args:
        output_dir: run directory; created if missing. Restarting a killed
            run with the same ``output_dir`` resumes from its last completed
            epoch (or batch, with an int ``backup_save_freq``).
        monitor: log key that selects the best model (default "val_miou").
        mode: "auto", "max" or "min" for ``monitor``.
        tensorboard: include ``keras.callbacks.TensorBoard``.
        checkpoint_name: file name of the best model (must end in ".keras").
        csv_name: file name of the CSV log.
        backup_save_freq: "epoch" or an int number of batches.
        chief: whether this process writes the shared artefacts; None reads
            TF_CONFIG (True without a cluster). Other workers of a
            multi-worker run only keep a private backup and TerminateOnNaN.
        verbose: verbosity of ``BestCheckpoint``.

    Returns:
        On the chief: ``[keras.callbacks.BackupAndRestore, BestCheckpoint,
        TensorBoard (if tensorboard), keras.callbacks.TerminateOnNaN,
        ResumableCSVLogger]``; BackupAndRestore
        comes first so it restores the state before the others start.

    Raises:
        PermissionError / NotADirectoryError: ``output_dir`` is not writable.
    """
    output_dir = ensure_writable_dir(output_dir)
    if chief is None:
        chief = is_chief()
    if not chief:
        # Workers must not overwrite the chief's files, but each needs its own
        # backup to rejoin a restarted cluster at the same epoch.
        backup_dir = os.path.join(output_dir, f"backup-{task_id()}")
        return [
            keras.callbacks.BackupAndRestore(backup_dir, save_freq=backup_save_freq),
            keras.callbacks.TerminateOnNaN(),
        ]
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(output_dir, "backup"), save_freq=backup_save_freq),
        BestCheckpoint(os.path.join(output_dir, checkpoint_name), monitor=monitor, mode=mode,
                       verbose=verbose),
    ]
    if tensorboard:
        callbacks.append(TensorBoard(log_dir=os.path.join(output_dir, "logs")))
    callbacks += [
        keras.callbacks.TerminateOnNaN(),
        ResumableCSVLogger(os.path.join(output_dir, csv_name)),
    ]
    return callbacks
