import os
import subprocess
import sys

import numpy as np
import pytest

import toy_models
from pipelines import export as cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "toy.keras"
    toy_models.encoder_decoder().save(path)
    return str(path)


def test_saved_model_and_tflite(model_file, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("r\ng\nb\n")
    base = str(tmp_path / "out")
    assert cli.main(["--model", model_file, "--name", "toy", "--base", base, "--labels", str(labels)]) == 0
    assert os.path.isdir(os.path.join(base, "toy", "1"))
    assert cli.main(["--model", model_file, "--name", "toy", "--base", base, "--version", "1"]) == 1
    assert "force" in capsys.readouterr().err
    images = toy_models.colour_data(4)[0]
    np.save(tmp_path / "cal.npy", images)
    args = ["--model", model_file, "--name", "toy", "--base", base, "--format", "tflite", "--input-size", "32", "32"]
    assert cli.main(args + ["--quantize", "int8", "--data", str(tmp_path / "cal.npy")]) == 0
    assert os.path.isfile(os.path.join(base, "toy_int8.tflite"))
    assert os.path.isfile(os.path.join(base, "toy_int8.labels.txt"))
    assert "QUANTIZE" in capsys.readouterr().out
    # calibration drawn from a kseg data spec (the training data)
    assert cli.main(args + ["--quantize", "int8", "--data", "synthetic", "--force"]) == 0


def test_class_names_come_from_the_training_run_beside_the_model(model_file, tmp_path, capsys):
    """A run folder's best.keras exports with the class names pipelines.train recorded in its
    config.json; no run config: a warning and class_0..; a config that disagrees: an error."""
    import json
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(model_file, run / "best.keras")
    (run / "config.json").write_text(json.dumps({"model": "toy", "class_names": ["sky", "road", "car"]}))
    base = tmp_path / "out"
    assert cli.main(["--model", str(run / "best.keras"), "--name", "toy", "--base", str(base)]) == 0
    assert (base / "toy" / "1" / "assets.extra" / "labels.txt").read_text() == "sky\nroad\ncar\n"
    assert "config.json" in capsys.readouterr().out
    # --name already carrying the quantization suffix is not doubled
    args = ["--model", str(run / "best.keras"), "--base", str(base), "--format", "tflite", "--input-size", "32", "32"]
    assert cli.main(args + ["--name", "toy_dynamic", "--quantize", "dynamic"]) == 0
    assert sorted(p.name for p in base.glob("toy_dynamic*")) == ["toy_dynamic.labels.txt", "toy_dynamic.tflite"]
    assert (base / "toy_dynamic.labels.txt").read_text() == "sky\nroad\ncar\n"
    capsys.readouterr()
    # no run config beside the model: said, and the labels are anonymous
    assert cli.main(["--model", model_file, "--name", "anon", "--base", str(base)]) == 0
    assert "no --labels and no training-run config.json" in capsys.readouterr().err
    assert (base / "anon" / "1" / "assets.extra" / "labels.txt").read_text().splitlines()[0] == "class_0"
    # a run config naming another number of classes is refused, nothing written
    (run / "config.json").write_text(json.dumps({"class_names": ["sky", "road"]}))
    assert cli.main(["--model", str(run / "best.keras"), "--name", "bad", "--base", str(base)]) == 1
    assert "lists 2 class names but the model predicts 3 classes; pass --labels" in capsys.readouterr().err
    assert not (base / "bad").exists()


def test_load_images_from_data_spec():
    from kseg.export.images import load_images

    images = load_images("synthetic", limit=3)
    assert len(images) == 3 and images[0].dtype == np.uint8 and images[0].shape == (96, 96, 3)
    with pytest.raises(FileNotFoundError, match="no PNG/JPEG"):
        load_images("/nonexistent/dir")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--format", "tflite", "--quantize", "int8"], "needs --data"),
        (["--quantize", "fp16"], "tflite only"),
        (["--format", "coreml"], "invalid choice"),
        (["--version", "-2"], ">= 0"),
    ],
)
def test_bad_arguments_exit_2(model_file, extra, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--model", model_file, "--name", "x"] + extra)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_missing_and_invalid_model_files(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--model", str(tmp_path / "nope.keras"), "--name", "x"])
    assert info.value.code == 2 and "no such file" in capsys.readouterr().err
    bogus = tmp_path / "bogus.keras"
    bogus.write_text("not a model")
    assert cli.main(["--model", str(bogus), "--name", "x", "--base", str(tmp_path)]) == 1
    assert "not a loadable Keras model" in capsys.readouterr().err


def test_unwritable_output(model_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["--model", model_file, "--name", "x", "--base", str(blocker)]) == 1
    assert "not a directory" in capsys.readouterr().err.lower()


def test_module_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipelines.export", "--help"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0 and "--quantize" in result.stdout
