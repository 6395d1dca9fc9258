"""pipelines.predict: the summary, exit codes, --on-error stop, --tta, resume, and flags that apply to Ray only."""

import json

import numpy as np
import pytest
from PIL import Image

from pipelines import predict as predict_cli
from pipelines._cli import run
from tests.inference.predict_inputs import random_image, save, tiny_model, write_bad_files


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.keras"
    tiny_model().save(path)
    return path


def _run(argv):
    with pytest.raises(SystemExit) as exit_info:
        run(predict_cli.main, argv)
    return exit_info.value.code


def test_bad_files_make_exit_1_after_every_good_one_is_written(model_path, tmp_path, capsys):
    save(tmp_path / "in" / "sub" / "a.png", random_image(0))
    save(tmp_path / "in" / "b.jpg", random_image(1))
    reasons = write_bad_files(tmp_path / "in")
    out = tmp_path / "out"
    argv = ["--model", str(model_path), str(tmp_path / "in"), "--output", str(out), "--recursive"]
    assert _run(argv) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == (f"done 2, skipped 0 (outputs already there), failed 4 (listed in "
                                             f"{out / 'failures.jsonl'}); predictions in {out}")
    for name, reason in reasons.items():
        assert f"failed {tmp_path / 'in' / name}: {reason}" in captured.err
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [f["input"] for f in failures] == [str(tmp_path / "in" / n) for n in sorted(reasons)]
    assert np.asarray(Image.open(out / "sub" / "a_classes.png")).shape == (20, 30)
    assert (out / "b_overlay.png").is_file()
    # The rerun resumes: the good ones are skipped, the bad ones fail again.
    assert _run(argv + ["--quiet"]) == 1
    assert capsys.readouterr().out.startswith("done 0, skipped 2 (outputs already there), failed 4")


def test_on_error_stop_is_one_error_line(model_path, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_text("junk")
    assert _run(["--model", str(model_path), str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                 "--on-error", "stop", "--quiet"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: Cannot predict '{tmp_path / 'in' / 'a.png'}': not an image file kseg reads (PNG, JPEG, BMP) "
        "(--on-error skip goes on past bad files).")


def test_tta_runs_the_wrapped_model(model_path, tmp_path):
    import keras

    from kseg.models import parse_tta, with_tta

    image = random_image(3, 24, 32)
    save(tmp_path / "x.png", image)
    assert _run(["--model", str(model_path), str(tmp_path / "x.png"), "--output", str(tmp_path / "out"),
                 "--tta", "flip", "--quiet"]) == 0
    wrapped = with_tta(keras.saving.load_model(model_path), **parse_tta("flip"))
    expected = np.argmax(wrapped.predict(image[None].astype(np.float32), verbose=0), -1)[0]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "x_classes.png")), expected)


@pytest.mark.parametrize("argv, message", [
    (["--workers", "2"], "--workers apply to --engine ray"),
    (["--address", "auto", "--gpus-per-worker", "1"], "--address, --gpus-per-worker apply to --engine ray"),
    (["--engine", "ray", "--workers", "0"], "--workers must be at least 1; got 0"),
])
def test_ray_flags_are_checked_before_any_work(model_path, tmp_path, capsys, argv, message):
    assert _run(["--model", str(model_path), str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_help_says_what_a_fixed_size_tflite_does(capsys):
    assert _run(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "an image of another size is resized to it (bilinear) and the class map resized back" in text
    assert "--on-error {skip,stop}" in text and "--engine {local,ray}" in text
