"""kseg.workflows.train: the pieces of the run that need no training."""

import math

import pytest

from kseg._io import atomic_write_json
from kseg.workflows.train import _best_epoch, require_finite_validation


def test_best_epoch_from_history_when_no_checkpoint_was_written(tmp_path):
    assert _best_epoch(str(tmp_path), [0.1, math.nan, 0.3, 0.2]) == (3, 0.3)


def test_a_run_that_never_had_a_finite_validation_score_says_why(tmp_path):
    best = tmp_path / "best.keras"
    with pytest.raises(ValueError, match="finite validation mIoU .*label ids outside"):
        require_finite_validation(str(best), [math.nan, math.nan])
    require_finite_validation(str(best), [math.nan, 0.4])  # an earlier epoch was fine
    best.write_bytes(b"x")
    require_finite_validation(str(best), [math.nan])  # a checkpoint exists


def test_best_epoch_from_the_checkpoint_state_across_a_resume(tmp_path):
    # A resumed fit() only sees its own epochs; the checkpoint knows the best of the whole run.
    atomic_write_json(tmp_path / "best.keras.json", {"monitor": "val_miou", "mode": "max", "best": 0.7, "epoch": 4})
    assert _best_epoch(str(tmp_path), [0.2, 0.3]) == (5, 0.7)


def test_a_broken_checkpoint_state_is_named(tmp_path):
    (tmp_path / "best.keras.json").write_text('{"epoch": 4}')
    with pytest.raises(ValueError, match="best.keras.json' is not a BestCheckpoint state"):
        _best_epoch(str(tmp_path), [0.2])


def _squares(root, n=8, size=64, side=10):
    """A folder source: ``n`` grey images with one ``side``-pixel square of class 1 (mask 255)."""
    import numpy as np
    from PIL import Image

    for sub in ("img", "msk"):
        (root / sub).mkdir()
    lo = (size - side) // 2
    for i in range(n):
        mask = np.zeros((size, size), np.uint8)
        mask[lo:lo + side, lo:lo + side] = 255
        Image.fromarray(mask // 2 + 20).save(root / "img" / f"{i}.png")
        Image.fromarray(mask).save(root / "msk" / f"{i}.png")
    return f"folder:{root / 'img'}:{root / 'msk'}"


def _tallest(ds):
    return max(int((m == 1).sum(axis=-2).max()) for _, m in ds.as_numpy_iterator())


def test_an_object_keeps_its_size_between_training_batches_and_evaluation(tmp_path):
    from kseg.data import eval_pipeline
    from kseg.workflows import make_config
    from kseg.workflows.train import load_data, training_data, validation_data

    spec = _squares(tmp_path)
    # Scale jitter off, flips and colour on: the default recipe otherwise.
    config = make_config(data=spec, label_map="0=0,255=1", input_size=(32, 32), batch_size=4,
                         augment={"scale": [1.0, 1.0]})
    assert config.input_mode() == "random 32x32 crops at native scale (resize_to_fit off)"
    train, val, holdout = load_data(config)
    assert holdout == (1, 8)
    assert _tallest(training_data(config, train)) == 10
    assert _tallest(validation_data(config, val)) == 10  # per-epoch validation: own resolution, padded
    assert _tallest(eval_pipeline(val)) == 10  # the final evaluation reads the images as they are
    fitted = make_config(data=spec, label_map="0=0,255=1", input_size=(32, 32), batch_size=4,
                         augment={"scale": [1.0, 1.0]}, resize_to_fit=True)
    assert fitted.input_mode().startswith("images resized to fit 32x32")
    assert _tallest(training_data(fitted, train)) in (4, 5)  # 64 -> 32: objects at half their size
    assert _tallest(validation_data(fitted, val)) in (4, 5)


def test_num_classes_that_disagrees_with_the_data_is_refused_naming_both(tmp_path):
    from kseg.workflows import make_config
    from kseg.workflows.train import load_data

    spec = _squares(tmp_path)
    config = make_config(data=spec, label_map="0=0,255=2", num_classes=4)  # ids 0 and 2: 3 classes
    with pytest.raises(ValueError, match=r"--num-classes 4 disagrees with the data .* which has 3 classes "
                                         r"\(class_0, class_1, class_2\)"):
        load_data(config)
    assert load_data(make_config(data=spec, label_map="0=0,255=2", num_classes=3))[0].num_classes == 3


def test_validation_files_shared_with_training_are_refused(tmp_path):
    from kseg.workflows import make_config
    from kseg.workflows.train import load_data

    spec = _squares(tmp_path)
    with pytest.raises(ValueError, match=r"shares 8 of its 8 images with the training data .*\(e\.g\. .*0\.png\)"):
        load_data(make_config(data=spec, val_data=spec, label_map="0=0,255=1"))
    with pytest.raises(ValueError, match="val_data 'same' validates on the training images"):
        make_config(data=spec, val_data="same", label_map="0=0,255=1")
    train, val, holdout = load_data(make_config(data=spec, val_data="same", val_fraction=0, label_map="0=0,255=1"))
    assert val is train and holdout is None and train.num_examples == 8
    with pytest.raises(ValueError, match="--val-fraction 0 holds out no images"):
        load_data(make_config(data=spec, val_fraction=0, label_map="0=0,255=1"))


@pytest.mark.parametrize("key,value,message", [
    ("export_size", (8, 8), "export_size must be two ints >= 16"),
    ("export_size", (360,), "export_size must be two ints >= 16"),
    ("val_size", (10, 480), "val_size must be two ints >= 16"),
    ("input_size", "big", "input_size must be two ints >= 16"),
    ("val_fraction", 1.0, r"val_fraction must be in \[0, 1\)"),
    ("val_fraction", -0.1, r"val_fraction must be"),
    ("resize_to_fit", "yes", "resize_to_fit must be true or false"),
    ("input_scale", 5, r"input_scale must be in \(0, 4\]"),
])
def test_config_values_are_checked(key, value, message):
    from kseg.workflows import make_config

    with pytest.raises(ValueError, match=message):
        make_config(**{key: value})
