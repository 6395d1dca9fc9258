"""kseg.workflows.train: the pieces of the run that need no training."""

import math

import pytest

from kseg._io import atomic_write_json
from kseg.workflows.train import _best_epoch


def test_best_epoch_from_history_when_no_checkpoint_was_written(tmp_path):
    assert _best_epoch(str(tmp_path), [0.1, math.nan, 0.3, 0.2]) == (3, 0.3)


def test_best_epoch_from_the_checkpoint_state_across_a_resume(tmp_path):
    # A resumed fit() only sees its own epochs; the checkpoint knows the best of the whole run.
    atomic_write_json(tmp_path / "best.keras.json", {"monitor": "val_miou", "mode": "max", "best": 0.7, "epoch": 4})
    assert _best_epoch(str(tmp_path), [0.2, 0.3]) == (5, 0.7)


def test_a_broken_checkpoint_state_is_named(tmp_path):
    (tmp_path / "best.keras.json").write_text('{"epoch": 4}')
    with pytest.raises(ValueError, match="best.keras.json' is not a BestCheckpoint state"):
        _best_epoch(str(tmp_path), [0.2])
