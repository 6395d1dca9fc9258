"""The CLIs end to end on tiny settings, and their clean failures."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from kseg.workflows import TrainConfig, make_config
from pipelines import evaluate as evaluate_cli
from pipelines import predict as predict_cli
from pipelines import train as train_cli


def run_cli(module, argv):
    """Run a pipeline main in-process the way `python -m` does; return (exit code, stderr)."""
    from pipelines._cli import run

    with pytest.raises(SystemExit) as exit_info:
        run(module.main, argv)
    return exit_info.value.code


TINY_YAML = """
model: unet
model_kwargs: {base_filters: 4, depth: 2}
input_size: [32, 32]
batch_size: 4
epochs: 2
steps_per_epoch: 2
export_tflite: false
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    cfg = root / "tiny.yaml"
    cfg.write_text(TINY_YAML + f"export_base: {root / 'saved'}\n")
    argv = ["--config", str(cfg), "--output", str(root / "out"), "--export-name", "tiny", "--lr", "0.01"]
    assert run_cli(train_cli, argv) == 0
    return root


def test_train_writes_artefacts_and_resumable_log(trained):
    out = trained / "out"
    for name in ("best.keras", "training_log.csv", "config.json", "eval_val/report.json",
                 "eval_val/confusion_matrix.png", "eval_val/overlay_0.png"):
        assert (out / name).exists(), name
    rows = (out / "training_log.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + 2 epochs
    config = json.loads((out / "config.json").read_text())
    assert config["lr"] == 0.01 and config["model_kwargs"] == {"base_filters": 4, "depth": 2}
    assert (trained / "saved" / "tiny" / "1" / "saved_model.pb").exists()


def test_evaluate_keras_and_saved_model_agree(trained, tmp_path, capsys):
    reports = []
    for model in (trained / "out" / "best.keras", trained / "saved" / "tiny" / "1"):
        out = tmp_path / model.name
        argv = ["--model", str(model), "--data", "synthetic", "--split", "val", "--output", str(out),
                "--max-images", "8"]
        assert run_cli(evaluate_cli, argv) == 0
        report = json.loads((out / "report.json").read_text())
        assert set(report) >= {"miou", "per_class_iou", "pixel_accuracy", "mean_accuracy",
                               "confusion_matrix", "class_names", "num_images"}
        assert report["num_images"] == 8 and 0.0 <= report["miou"] <= 1.0
        assert np.asarray(report["confusion_matrix"]).sum() == 8 * 96 * 96
        reports.append(report)
    assert reports[0]["confusion_matrix"] == reports[1]["confusion_matrix"]
    assert "mIoU" in capsys.readouterr().out


def test_evaluate_and_export_with_tta(trained, tmp_path, capsys):
    import keras

    from kseg.data import load
    from kseg.inference import evaluate, keras_predictor
    from kseg.models import with_tta
    from pipelines import export as export_cli

    best = trained / "out" / "best.keras"
    argv = ["--model", str(best), "--data", "synthetic", "--split", "val", "--output", str(tmp_path / "e"),
            "--max-images", "4", "--tta", "flip,0.5,1"]
    assert run_cli(evaluate_cli, argv) == 0
    got = json.loads((tmp_path / "e" / "report.json").read_text())
    wrapped = with_tta(keras.saving.load_model(best, safe_mode=True), flip=True, scales=(0.5, 1.0))
    expected = evaluate(keras_predictor(wrapped), load("synthetic", "val"), max_images=4)
    assert got["confusion_matrix"] == np.asarray(expected["confusion_matrix"]).tolist()
    # The exported TTA SavedModel gives the same class maps as the TTA .keras evaluation.
    argv = ["--model", str(best), "--name", "tta", "--base", str(tmp_path / "sm"), "--tta", "flip,0.5,1"]
    assert run_cli(export_cli, argv) == 0
    argv = ["--model", str(tmp_path / "sm" / "tta" / "1"), "--data", "synthetic", "--split", "val",
            "--output", str(tmp_path / "s"), "--max-images", "4"]
    assert run_cli(evaluate_cli, argv) == 0
    assert json.loads((tmp_path / "s" / "report.json").read_text())["confusion_matrix"] == got["confusion_matrix"]
    capsys.readouterr()
    argv = ["--model", str(tmp_path / "sm" / "tta" / "1"), "--data", "synthetic", "--tta", "flip",
            "--output", str(tmp_path / "x")]
    assert run_cli(evaluate_cli, argv) == 2
    assert "--tta applies to .keras models" in capsys.readouterr().err
    argv = ["--model", str(best), "--data", "synthetic", "--tta", "mirror", "--output", str(tmp_path / "y")]
    assert run_cli(evaluate_cli, argv) == 2
    assert "--tta must be" in capsys.readouterr().err


def test_predict_writes_masks_at_original_resolution(trained, tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("a.png", (37, 53)), ("b.jpg", (64, 48))):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(images / name)
    out = tmp_path / "pred"
    argv = ["--model", str(trained / "out" / "best.keras"), str(images), "--output", str(out)]
    assert run_cli(predict_cli, argv) == 0
    assert np.asarray(Image.open(out / "a_classes.png")).shape == (37, 53)
    assert np.asarray(Image.open(out / "b_overlay.png")).shape == (64, 48, 3)


@pytest.mark.parametrize("argv,message", [
    (["--model", "nonet"], "Unknown model 'nonet'. Known models:"),
    (["--loss", "hinge"], "Unknown loss 'hinge'"),
    (["--strategy", "tpu"], "Unknown strategy 'tpu'"),
    (["--backbone", "vgg99"], "Unknown backbone 'vgg99'"),
    (["--epochs", "0"], "epochs must be a positive int"),
    (["--class-weights", "1,x"], "--class-weights"),
    (["--config", "/nonexistent/c.yaml"], "does not exist"),
    (["--init-weights", "/nonexistent/run/best.keras"], "init_weights file '/nonexistent/run/best.keras' does not exist"),
    (["--init-weights", "weights.npz"], "init_weights must be a .keras or .weights.h5 file"),
    (["--class-weight-power", "-1"], "class_weight_power must be a number in [0, 4]"),
])
def test_train_bad_arguments_fail_cleanly(argv, message, tmp_path, capsys):
    assert run_cli(train_cli, argv + ["--output", str(tmp_path / "never")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()  # nothing half-written


def test_train_data_problems_fail_cleanly(tmp_path, capsys):
    argv = ["--data", "camvid:/nonexistent/camvid", "--output", str(tmp_path / "o")]
    assert run_cli(train_cli, argv) == 2
    assert "/nonexistent/camvid" in capsys.readouterr().err
    argv = ["--num-classes", "7", "--output", str(tmp_path / "o2"), "--epochs", "1"]
    assert run_cli(train_cli, argv) == 2
    assert "--num-classes 7 disagrees" in capsys.readouterr().err


def test_train_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert run_cli(train_cli, ["--output", str(blocker / "sub")]) == 2
    assert str(blocker) in capsys.readouterr().err


def test_evaluate_rejects_non_model(tmp_path, capsys):
    bogus = tmp_path / "model.keras"
    bogus.write_text("not a zip")
    argv = ["--model", str(bogus), "--data", "synthetic", "--output", str(tmp_path / "o")]
    assert run_cli(evaluate_cli, argv) == 2
    assert "is not a loadable .keras model" in capsys.readouterr().err
    argv = ["--model", str(tmp_path / "missing.keras"), "--data", "synthetic", "--output", str(tmp_path / "o")]
    assert run_cli(evaluate_cli, argv) == 2
    assert "does not exist" in capsys.readouterr().err


def test_other_model_does_not_inherit_default_widths(tmp_path):
    assert make_config().model_kwargs == {"base_filters": 16, "depth": 3}
    assert make_config(model="deeplab_v3", backbone="mobilenet_v2").model_kwargs == {}
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: segnet_basic\n")
    assert make_config(str(cfg)).model_kwargs == {}
    cfg.write_text("model: segnet_basic\nmodel_kwargs: {filters: 8}\n")
    assert make_config(str(cfg)).model_kwargs == {"filters": 8}


def test_config_file_formats_and_precedence(tmp_path):
    (tmp_path / "a.toml").write_text('model = "segnet_basic"\nepochs = 3\ninput_size = [64, 80]\n')
    config = make_config(tmp_path / "a.toml", epochs=5)
    assert (config.model, config.epochs, config.input_size) == ("segnet_basic", 5, (64, 80))
    (tmp_path / "b.yaml").write_text("modle: unet\n")
    with pytest.raises(ValueError, match="unknown keys: modle"):
        make_config(tmp_path / "b.yaml")
    assert TrainConfig().validate().model == "unet"


def test_cli_entry_point_runs_as_module():
    proc = subprocess.run([sys.executable, "-m", "pipelines.train", "--model", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "Unknown model 'nope'" in proc.stderr


def test_train_bad_mask_id_names_the_file(tmp_path, capsys):
    for sub in ("img", "msk"):
        (tmp_path / sub).mkdir()
    for i in range(4):
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "img" / f"{i}.png")
        mask = np.zeros((40, 40), np.uint8)
        mask[0, 0] = 77 if i == 2 else 1
        Image.fromarray(mask).save(tmp_path / "msk" / f"{i}.png")
    spec = f"folder:{tmp_path / 'img'}:{tmp_path / 'msk'}"
    argv = ["--data", spec, "--num-classes", "2", "--output", str(tmp_path / "o"),
            "--epochs", "1", "--input-size", "32", "32", "--batch-size", "2", "--export-name", "none"]
    assert run_cli(train_cli, argv) == 2
    err = capsys.readouterr().err
    assert "2.png" in err and "77" in err and "Traceback" not in err


def test_evaluate_in_fresh_process_with_markdown_report(trained, tmp_path):
    """A new interpreter loads the .keras file (kseg objects registered by import) and reports."""
    md = tmp_path / "report.md"
    cmd = [sys.executable, "-m", "pipelines.evaluate", "--model", str(trained / "out" / "best.keras"),
           "--data", "synthetic", "--split", "test", "--output", str(tmp_path / "eval"), "--max-images", "4",
           "--markdown", str(md), "--training-log", str(trained / "out" / "training_log.csv")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    text = md.read_text()
    assert f"| mIoU | **{100 * report['miou']:.1f}** |" in text
    for figure in ("confusion_matrix.png", "training_curves.png", "overlay_0.png"):
        assert (tmp_path / "report_figures" / figure).exists()


@pytest.mark.slow
def test_train_cli_with_mirrored_strategy_bfloat16_and_input_scale(tmp_path):
    """--strategy and --precision reach tf.distribute and the dtype policy; input_scale wraps the result."""
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY_YAML.replace("epochs: 2", "epochs: 1") + "input_scale: 0.5\n")
    cmd = [sys.executable, "-m", "pipelines.train", "--config", str(cfg), "--output", str(tmp_path / "o"),
           "--strategy", "mirrored", "--precision", "mixed_bfloat16", "--export-name", "none"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "val mIoU (full res)" in proc.stdout
    # the evaluated model is the float32 rebuild of the bfloat16-trained one, run at half scale inside
    import keras

    final = keras.saving.load_model(tmp_path / "o" / "final.keras", safe_mode=True)
    assert final.get_layer("input_scale").factor == 0.5
    assert all(w.dtype == "float32" for w in final.weights)
    assert final(np.zeros((1, 37, 50, 3), "float32")).shape == (1, 37, 50, 5)
