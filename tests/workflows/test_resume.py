"""Rerunning in a run folder: the same run resumes; anything else is a one-line refusal."""

import json

import pytest

from kseg._io import atomic_write_json
from kseg.workflows import make_config
from kseg.workflows.resume import check_resume, previous_run, recipe_changes, recipe_history


def _run(tmp_path, epochs_done, *, backup=True, epochs=4, **settings):
    """A run folder as train() leaves it after ``epochs_done`` epochs."""
    config = make_config(output=str(tmp_path), epochs=epochs, **settings)
    atomic_write_json(tmp_path / "config.json", {**config.to_dict(), "class_names": ["a", "b", "c"],
                                                 "recipe_changes": []})
    if backup:
        (tmp_path / "backup").mkdir()
        (tmp_path / "backup" / "training_metadata.json").write_text(json.dumps({"epoch": epochs_done}))
    rows = "".join(f"{e},0.5\n" for e in range(epochs_done))
    (tmp_path / "training_log.csv").write_text("epoch,val_miou\n" + rows)
    atomic_write_json(tmp_path / "best.keras.json", {"monitor": "val_miou", "mode": "max", "best": 0.61, "epoch": 1})
    return previous_run(str(tmp_path))


def test_nothing_to_resume(tmp_path):
    assert previous_run(str(tmp_path)) is None
    (tmp_path / "training_log.csv").write_text("epoch,val_miou\n")  # killed during the first epoch
    assert previous_run(str(tmp_path)) is None


def test_same_recipe_resumes_and_run_settings_may_change(tmp_path):
    previous = _run(tmp_path, 2, lr=0.01)
    assert (previous.epochs_done, previous.has_backup, previous.num_classes) == (2, True, 3)
    again = make_config(output=str(tmp_path), epochs=4, lr=0.01)
    assert check_resume(previous, again) == {}
    longer = make_config(output=str(tmp_path), epochs=9, lr=0.01, strategy="mirrored", export_name="x")
    assert check_resume(previous, longer) == {}


def test_changed_recipe_is_refused_with_the_changed_keys(tmp_path):
    previous = _run(tmp_path, 2, lr=0.01)
    changed = make_config(output=str(tmp_path), epochs=4, lr=0.0003, class_weights="median_frequency",
                          augment=False)
    with pytest.raises(ValueError) as error:
        check_resume(previous, changed)
    message = str(error.value)
    assert "\n" not in message and "stopped after epoch 2" in message
    assert "Changed: lr: 0.01 -> 0.0003; class_weights: null -> 'median_frequency'; augment: true -> false" in message
    assert "--allow-recipe-change" in message
    changed.allow_recipe_change = True
    changes = check_resume(previous, changed)
    assert changes == {"lr": (0.01, 0.0003), "class_weights": (None, "median_frequency"), "augment": (True, False)}
    assert recipe_history(previous, changes) == [{"epoch": 2, "changes": {
        "lr": {"from": 0.01, "to": 0.0003}, "class_weights": {"from": None, "to": "median_frequency"},
        "augment": {"from": True, "to": False}}}]
    assert recipe_history(previous, {}) == []


def test_a_run_from_before_resize_to_fit_resized_to_fit(tmp_path):
    previous = _run(tmp_path, 1)
    del previous.config["resize_to_fit"]
    assert recipe_changes(previous.config, make_config(resize_to_fit=True).to_dict()) == {}
    assert recipe_changes(previous.config, make_config().to_dict()) == {"resize_to_fit": (True, False)}


def test_finished_run_says_how_to_extend_it(tmp_path):
    (tmp_path / "last.keras").write_bytes(b"")
    previous = _run(tmp_path, 4)
    assert not previous.rebuilds_last(4)
    with pytest.raises(ValueError, match=r"already holds a finished run \(4 epochs, best val_miou 0.6100 at epoch 2 "
                                         r"in best.keras\).*rerun with --epochs larger than 4"):
        check_resume(previous, make_config(output=str(tmp_path), epochs=4))
    assert check_resume(previous, make_config(output=str(tmp_path), epochs=6)) == {}


def test_finished_run_without_last_keras_is_rebuilt_from_the_backup_under_the_same_recipe(tmp_path):
    previous = _run(tmp_path, 4)
    assert (previous.has_backup, previous.has_last) == (True, False)
    assert previous.rebuilds_last(4) and not previous.rebuilds_last(3)
    assert check_resume(previous, make_config(output=str(tmp_path), epochs=4)) == {}
    with pytest.raises(ValueError, match="already holds a finished run"):  # fewer epochs than the backup holds
        check_resume(previous, make_config(output=str(tmp_path), epochs=3))
    with pytest.raises(ValueError, match="another recipe"):  # the optimizer's state follows the recipe
        check_resume(previous, make_config(output=str(tmp_path), epochs=4, lr=0.5))


def test_finished_run_without_backup_points_to_init_weights(tmp_path):
    previous = _run(tmp_path, 4, backup=False)
    assert (previous.epochs_done, previous.has_backup) == (4, False)
    with pytest.raises(ValueError, match="kept no state to continue from .*--init-weights .*best.keras"):
        check_resume(previous, make_config(output=str(tmp_path), epochs=8))


@pytest.mark.parametrize("settings,message", [
    ({"model": "segnet_basic"}, r"holds a run of another model \(model 'unet', model_kwargs .*; this command "
                                r"asks for model 'segnet_basic', model_kwargs \{\}\): use a new --output"),
    ({"model_kwargs": {"base_filters": 8, "depth": 3}}, "holds a run of another model"),
    ({"num_classes": 5}, "holds a run with 3 classes; --num-classes is 5: use a new --output"),
])
def test_another_model_or_class_count_is_one_line(tmp_path, settings, message):
    previous = _run(tmp_path, 2)
    with pytest.raises(ValueError, match=message) as error:
        check_resume(previous, make_config(output=str(tmp_path), epochs=4, allow_recipe_change=True, **settings))
    assert "\n" not in str(error.value)
