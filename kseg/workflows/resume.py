"""Rerunning a training command in a run folder that already holds a run: the same run, or a clear refusal.

A run folder (``TrainConfig.output``) records its recipe in ``config.json``
and its progress in ``backup/training_metadata.json`` (Keras
``BackupAndRestore``; kept after the last epoch so that a larger ``epochs``
extends the run) or, for runs that finished before the backup was kept, in
``training_log.csv``. A rerun continues that run only under the same recipe;
``allow_recipe_change`` continues under a changed one and records the change
with the epoch it happened at.
"""

import dataclasses
import json
import os

from kseg.workflows.config import TrainConfig

# Settings that say how long, where and on what hardware a run goes, not what it learns: they may change on resume.
RUN_KEYS = frozenset({"output", "epochs", "strategy", "export_name", "export_base", "export_tflite",
                      "export_size", "allow_recipe_change"})
# What a run whose config.json predates a setting did (runs before resize_to_fit existed resized to fit).
LEGACY_VALUES = {"resize_to_fit": True}
# Keys that make another network: a run folder holding one cannot continue as the other.
MODEL_KEYS = ("model", "backbone", "model_kwargs", "qat")


@dataclasses.dataclass
class PreviousRun:
    """What ``output`` holds: its ``config.json`` (None if missing), the epochs done, and whether the
    end-of-run state that ``BackupAndRestore`` resumes from is there."""

    output: str
    config: dict
    epochs_done: int
    has_backup: bool
    has_last: bool

    def rebuilds_last(self, epochs):
        """True when a rerun asking for ``epochs`` finds them all done and rebuilds the missing
        ``last.keras`` from ``backup/`` (the state the last epoch ended with) instead of training."""
        return self.epochs_done == epochs and self.has_backup and not self.has_last

    @property
    def num_classes(self):
        names = (self.config or {}).get("class_names")
        return len(names) if isinstance(names, list) else None


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} cannot be read ({error}); use a new --output or remove the file.") from None


def previous_run(output):
    """The ``PreviousRun`` in ``output``, or None when no epoch of a run there has finished."""
    backup = os.path.join(output, "backup")
    metadata = os.path.join(backup, "training_metadata.json")
    log = os.path.join(output, "training_log.csv")
    if os.path.isfile(metadata):
        done = int(_read_json(metadata).get("epoch", 0))
    elif os.path.isfile(log):
        with open(log, encoding="utf-8") as f:
            done = max(0, sum(1 for line in f if line.strip()) - 1)
    else:
        done = 0
    if done == 0:
        return None
    path = os.path.join(output, "config.json")
    config = _read_json(path) if os.path.isfile(path) else None
    if config is not None and not isinstance(config, dict):
        raise ValueError(f"{path} is not a mapping of settings; use a new --output.")
    return PreviousRun(output, config, done, os.path.isdir(backup),
                       os.path.isfile(os.path.join(output, "last.keras")))


def _fmt(value):
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def recipe_changes(old, new):
    """``{key: (old value, new value)}`` for the recipe settings that differ (``RUN_KEYS`` may change)."""
    defaults = TrainConfig().to_dict()
    changes = {}
    for key, value in new.items():
        if key in RUN_KEYS:
            continue
        before = old.get(key, LEGACY_VALUES.get(key, defaults.get(key)))
        if before != value:
            changes[key] = (before, value)
    return changes


def check_resume(previous, config):
    """Refuse a rerun that would not continue the run in ``previous.output``; return the recipe
    changes that ``config.allow_recipe_change`` accepts (``{}`` when none).

    Raises ``ValueError`` (one line) for another model in the folder, a finished run (unless
    ``previous.rebuilds_last``), a run that
    kept no state to extend, or changed settings without ``allow_recipe_change``.
    """
    output, old, new = previous.output, previous.config, config.to_dict()
    if old is None:
        raise ValueError(f"{output} holds a training run without its config.json: use a new --output.")
    differ = [key for key in MODEL_KEYS if old.get(key) != new[key] and key in old]
    if differ:
        raise ValueError(
            f"{output} holds a run of another model ({', '.join(f'{k} {_fmt(old[k])}' for k in differ)}; "
            f"this command asks for {', '.join(f'{k} {_fmt(new[k])}' for k in differ)}): use a new --output.")
    if config.num_classes is not None:
        check_num_classes(previous, config.num_classes, asked="--num-classes is")
    if previous.epochs_done >= config.epochs and not previous.rebuilds_last(config.epochs):
        raise ValueError(
            f"{output} already holds a finished run ({_epochs(previous.epochs_done)}{_best(output)}); nothing "
            f"to train. To train it longer, rerun with --epochs larger than {previous.epochs_done}; to start "
            "again, use a new --output.")
    if not previous.has_backup:
        raise ValueError(
            f"{output} holds a run that finished {_epochs(previous.epochs_done)} but kept no state to continue "
            f"from (backup/): start a new --output with --init-weights {os.path.join(output, 'best.keras')}.")
    changes = recipe_changes(old, new)
    if changes and not config.allow_recipe_change:
        listed = "; ".join(f"{k}: {_fmt(a)} -> {_fmt(b)}" for k, (a, b) in changes.items())
        raise ValueError(
            f"{output} holds a run with another recipe, stopped after epoch {previous.epochs_done}. Changed: "
            f"{listed}. Rerun with the same settings to resume it, use a new --output, or pass "
            "--allow-recipe-change to continue under the new settings (recorded in its config.json).")
    return changes


def check_num_classes(previous, num_classes, asked="the data has"):
    """Refuse a class count other than the one of the run in ``previous`` (None: no run)."""
    if previous is not None and previous.num_classes not in (None, num_classes):
        raise ValueError(
            f"{previous.output} holds a run with {previous.num_classes} classes; {asked} {num_classes}: "
            "use a new --output.")


def recipe_history(previous, changes):
    """The ``recipe_changes`` list for the new ``config.json``: the earlier entries plus this one."""
    history = list((previous.config or {}).get("recipe_changes", [])) if previous else []
    if changes:
        history.append({"epoch": previous.epochs_done,
                        "changes": {k: {"from": a, "to": b} for k, (a, b) in changes.items()}})
    return history


def _epochs(n):
    return f"{n} epoch{'s' if n != 1 else ''}"


def _best(output):
    path = os.path.join(output, "best.keras.json")
    if not os.path.isfile(path):
        return ""
    state = _read_json(path)
    try:
        return f", best {state['monitor']} {float(state['best']):.4f} at epoch {int(state['epoch']) + 1} in best.keras"
    except (KeyError, TypeError, ValueError):
        return ""
