"""``pipelines.train`` on a user's own folder of images and masks (issue 27): the held-out
validation, the crop printout, ``--strategy mirrored``, and what a rerun in the same folder does."""

import json

import numpy as np
import pytest
from PIL import Image

from kseg.data.holdout import holdout_images
from pipelines import train as train_cli
from pipelines._cli import run

TINY = "model: unet\nmodel_kwargs: {base_filters: 4, depth: 2}\nexport_tflite: false\n"


@pytest.fixture(scope="module")
def own_data(tmp_path_factory):
    """30 grayscale 40x40 images with binary 0/255 masks, the issue's setting in small."""
    root = tmp_path_factory.mktemp("own")
    for sub in ("images", "labels"):
        (root / sub).mkdir()
    rng = np.random.default_rng(0)
    for i in range(30):
        mask = np.zeros((40, 40), np.uint8)
        y, x = rng.integers(0, 28, 2)
        mask[y:y + 12, x:x + 12] = 255
        image = np.clip(mask // 2 + rng.integers(0, 60, (40, 40)), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"s{i:03d}.png")
        Image.fromarray(mask).save(root / "labels" / f"s{i:03d}.png")
    (root / "tiny.yaml").write_text(TINY)
    return root


def run_cli(module, argv):
    with pytest.raises(SystemExit) as exit_info:
        run(module.main, argv)
    return exit_info.value.code


def _argv(root, *extra):
    # The README's "Your own data" command with tiny settings.
    return ["--config", str(root / "tiny.yaml"), "--model", "unet", "--num-classes", "2",
            "--data", f"folder:{root / 'images'}:{root / 'labels'}", "--label-map", "0=0,255=1",
            "--input-size", "32", "32", "--batch-size", "9", "--epochs", "1", "--export-name", "none",
            "--output", str(root / "run"), *extra]


@pytest.fixture(scope="module")
def trained(own_data):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run_cli(train_cli, _argv(own_data, "--strategy", "mirrored")) == 0
    return own_data, out.getvalue()


def test_holds_out_a_tenth_and_says_so(trained):
    root, printed = trained
    assert "validating on 3 of 30 images held out (--val-fraction 0.1)" in printed
    assert "training on random 32x32 crops at native scale (resize_to_fit off)" in printed
    assert "strategy mirrored: training on 1 replica (" in printed
    config = json.loads((root / "run" / "config.json").read_text())
    images = sorted(str(p) for p in (root / "images").iterdir())
    assert sorted(config["val_files"]) == sorted(holdout_images(images, 0.1))
    assert (config["train_images"], config["val_images"], config["replicas"]) == (27, 3, 1)
    assert config["strategy"] == "mirrored" and config["recipe_changes"] == []
    assert json.loads((root / "run" / "eval_val" / "report.json").read_text())["num_images"] == 3


def test_rerunning_a_finished_run_says_so_and_keeps_best(trained, capsys):
    root, _ = trained
    best = root / "run" / "best.keras"
    before = best.stat().st_mtime_ns
    assert run_cli(train_cli, _argv(root)) == 2
    err = capsys.readouterr().err
    assert "already holds a finished run (1 epoch" in err and "--epochs larger than 1" in err
    assert best.stat().st_mtime_ns == before


@pytest.mark.parametrize("extra,message", [
    (["--lr", "0.0003", "--epochs", "2"], "Changed: lr: 0.003 -> 0.0003. Rerun with the same settings"),
    (["--model", "segnet_basic", "--epochs", "2"], "holds a run of another model (model 'unet'"),
    (["--num-classes", "3", "--epochs", "2"], "holds a run with 2 classes; --num-classes is 3"),
])
def test_rerun_with_another_recipe_or_model_is_refused(trained, capsys, extra, message):
    root, _ = trained
    assert run_cli(train_cli, _argv(root) + extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_validation_data_that_is_the_training_data_is_refused(own_data, capsys):
    spec = f"folder:{own_data / 'images'}:{own_data / 'labels'}"
    argv = _argv(own_data, "--val-data", spec, "--output", str(own_data / "other"))
    assert run_cli(train_cli, argv) == 2
    err = capsys.readouterr().err
    assert "shares 30 of its 30 images with the training data" in err and "s000.png" in err


def test_larger_epochs_extend_the_run_and_log_the_recipe_change(trained, capsys):
    """Last in the module: it trains one more epoch in the shared run folder."""
    root, _ = trained
    argv = _argv(root, "--epochs", "2", "--lr", "0.001", "--allow-recipe-change")
    assert run_cli(train_cli, argv) == 0
    assert "after epoch 1 under a changed recipe: lr: 0.003 -> 0.001" in capsys.readouterr().out
    rows = (root / "run" / "training_log.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1"]  # epoch 0 kept, epoch 1 added
    config = json.loads((root / "run" / "config.json").read_text())
    assert config["recipe_changes"] == [{"epoch": 1, "changes": {"lr": {"from": 0.003, "to": 0.001}}}]
    assert config["lr"] == 0.001 and config["epochs"] == 2
