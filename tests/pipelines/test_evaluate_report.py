"""pipelines.evaluate: data options as flags, --boundary-width, and a report.json that says what it scored."""

import hashlib
import json

import keras
import numpy as np
import pytest
from PIL import Image

from kseg.inference.visualize import triptych
from pipelines import evaluate as evaluate_cli
from pipelines._cli import run

COLOURS = "0,0,0=0;0,0,255=1;255,255,0=2"
RGB = np.array([[0, 0, 0], [0, 0, 255], [255, 255, 0]], np.uint8)


def run_cli(argv):
    with pytest.raises(SystemExit) as exit_info:
        run(evaluate_cli.main, argv)
    return exit_info.value.code


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    model.save(root / "m.keras")
    (root / "im").mkdir()
    (root / "gt").mkdir()
    rng = np.random.default_rng(0)
    for stem in ("s000", "s001", "s002"):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / "im" / f"{stem}.png")
        Image.fromarray(RGB[rng.integers(0, 3, (16, 16))]).save(root / "gt" / f"{stem}_mask.png")
    (root / "gt" / "s002_mask.png").write_bytes(b"not a png")
    return root


def _argv(root, out, *extra):
    return ["--model", str(root / "m.keras"), "--data", f"folder:{root / 'im'}:{root / 'gt'}",
            "--colour-table", COLOURS, "--mask-suffix", "_mask", "--output", str(out), "--overlays", "1", *extra]


def test_report_records_what_was_evaluated(setup, tmp_path, capsys):
    out = tmp_path / "out"
    argv = _argv(setup, out, "--on-error", "skip", "--boundary-width", "1", "--tta", "flip,1,2",
                 "--max-images", "1", "--split", "test")
    assert run_cli(argv) == 0
    report = json.loads((out / "report.json").read_text())
    images = [str(setup / "im" / "s000.png")]
    assert report["evaluated"] == {
        "data": f"folder:{setup / 'im'}:{setup / 'gt'}", "model": str(setup / "m.keras"), "split": "test",
        "label_map": None, "tta": "flip,1,2", "tta_views": 4, "tile": None, "tile_overlap": None,
        "num_images": 1, "num_images_available": 2, "max_images": 1, "resolution": "native",
        "images": images, "images_sha256": hashlib.sha256(images[0].encode()).hexdigest()}
    assert 0 <= report["boundary_miou"] <= 1 and report["boundary_width"] == 1
    printed = capsys.readouterr().out
    assert "images: 1 of 2 (max_images 1), native resolution, TTA 'flip,1,2' (4 views)" in printed
    assert "boundary mIoU" in printed and (out / "overlay_0.png").is_file()


def test_cli_errors_name_flags(setup, tmp_path, capsys):
    assert run_cli(_argv(setup, tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "s002_mask.png" in err and "pass --on-error skip to drop them" in err and "on_error=" not in err


def test_truth_and_prediction_panels_are_drawn_alike():
    image = np.full((2, 2, 3), 200, np.uint8)
    ids = np.array([[0, 1], [2, 255]])
    panels = np.split(triptych(image, ids, np.where(ids == 255, 0, ids), RGB), 3, axis=1)
    np.testing.assert_array_equal(panels[1][:, 0], panels[2][:, 0])  # same classes, same pixels
    np.testing.assert_array_equal(panels[1][0, 0], [100, 100, 100])  # class 0 (black) blended, visible
    np.testing.assert_array_equal(panels[1][1, 0], [227, 227, 100])
    np.testing.assert_array_equal(panels[1][1, 1], [200, 200, 200])  # ignored truth: the bare image


def test_train_takes_the_same_data_flags(setup, tmp_path, capsys):
    from pipelines import train as train_cli

    argv = ["--data", "synthetic", "--mask-suffix", "_mask", "--output", str(tmp_path / "run"),
            "--export-name", "none"]
    with pytest.raises(SystemExit) as exit_info:
        run(train_cli.main, argv)
    assert exit_info.value.code == 2
    assert "error: --mask-suffix applies to folder: data, not 'synthetic'." in capsys.readouterr().err
