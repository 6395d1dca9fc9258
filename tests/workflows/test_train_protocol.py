"""kseg.workflows.train with the papers' protocol pieces: train+val, an EMA of the weights, a teacher."""

import csv
import json

import keras
import numpy as np
import pytest

from kseg import losses, metrics


def test_camvid_trainval_trains_on_468_and_validates_on_val_knowingly(camvid_root, capsys):
    from kseg.workflows import make_config
    from kseg.workflows.train import load_data

    config = make_config(data=f"camvid:{camvid_root}", train_split="trainval", model="dabnet")
    train, val, holdout = load_data(config)
    assert (train.num_examples, val.num_examples, holdout) == (468, 101, None)
    assert "validating on 101 images of which 101 are in the training split 'trainval'" in capsys.readouterr().out
    # Training on train only, the same validation split shares nothing.
    train, val, _ = load_data(make_config(data=f"camvid:{camvid_root}", model="dabnet"))
    assert train.num_examples == 367 and not set(train.files) & set(val.files)


@pytest.mark.slow
def test_run_with_ema_and_teacher_saves_the_student_as_best_and_its_averages_as_last(tmp_path):
    from kseg import data as kdata
    from kseg.workflows import make_config, train

    keras.utils.set_random_seed(5)
    teacher = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(5, 1)], name="teacher")
    teacher.save(tmp_path / "teacher.keras")
    config = make_config(input_size=(32, 32), val_size=(32, 32), batch_size=4, epochs=2, steps_per_epoch=2,
                         export_name="none", output=str(tmp_path / "run"), ema=0.5, teacher=str(tmp_path / "teacher.keras"),
                         distillation={"weight": 0.5, "tta": "flip"})
    config.export_name = None
    result = train(config)
    run = tmp_path / "run"
    saved = json.loads((run / "config.json").read_text())
    assert (saved["ema"], saved["teacher"], saved["distillation"]) == (
        0.5, str(tmp_path / "teacher.keras"), {"weight": 0.5, "tta": "flip"})
    assert json.loads((run / "last.keras.json").read_text()) == {"epochs": 2, "ema": 0.5}
    last = keras.saving.load_model(run / "last.keras", safe_mode=True)
    assert last.name == "unet" and "teacher" not in {layer.name for layer in last.layers}
    best = keras.saving.load_model(run / "best.keras", safe_mode=True)  # the student, like last.keras
    assert best.name == "unet" and "teacher" not in {layer.name for layer in best.layers}
    assert result.model_path.endswith("best.keras")
    # The last epoch validated the averages, which are what last.keras holds.
    with open(run / "training_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    val = kdata.training_pipeline(kdata.load("synthetic", "val"), input_size=(32, 32), batch_size=4, augment=False,
                                  shuffle=False, drop_remainder=False, ignore_id=255)
    last.compile(loss=losses.get("cross_entropy"), metrics=[metrics.MeanIoU(5, ignore_id=255, name="miou")])
    scores = last.evaluate(val, return_dict=True, verbose=0)
    assert scores["miou"] == pytest.approx(float(rows[-1]["val_miou"]), abs=1e-5)
    assert np.isfinite(float(rows[-1]["loss"]))
    # Rerunning the finished run without its last.keras rebuilds the same file from backup/ and trains nothing.
    (run / "last.keras").unlink()
    assert train(config) is None
    rebuilt = keras.saving.load_model(run / "last.keras", safe_mode=True)
    for a, b in zip(last.weights, rebuilt.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), err_msg=a.path)
    assert len(rows) == len(list(csv.DictReader(open(run / "training_log.csv"))))
    with pytest.raises(ValueError, match="already holds a finished run"):
        train(config)


@pytest.mark.parametrize("argv, message", [
    (["--ema", "1.5"], r"^ema must be the averaging momentum, a number in \(0, 1\)"),
    (["--teacher-tta", "flip"], "^distillation options are set but no teacher is given"),
    (["--teacher", "nowhere.keras"], "^teacher file 'nowhere.keras' does not exist"),
    (["--train-split", ""], "^train_split must be a split name"),
])
def test_cli_flags_are_checked_before_any_data_is_read(argv, message):
    from pipelines.train import main

    with pytest.raises((ValueError, FileNotFoundError), match=message):
        main(argv + ["--output", "/nonexistent/never-written"])
