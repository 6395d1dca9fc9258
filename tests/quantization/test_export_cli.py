"""pipelines.export --quantize int8 --keep-float / --debug-quantization: files written, what is printed, errors."""

import os

import numpy as np
import pytest

from kseg.quantization import read_record
from pipelines import export as cli
from quant_models import bad_range_model, calibration_images


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("quant_cli") / "bad_range.keras"
    bad_range_model().save(path)
    return str(path)


def test_keep_float_and_debug_report_from_the_cli(model_file, tmp_path, capsys):
    np.save(tmp_path / "cal.npy", calibration_images())
    base = str(tmp_path / "out")
    args = ["--model", model_file, "--name", "m", "--base", base, "--format", "tflite", "--quantize", "int8",
            "--data", str(tmp_path / "cal.npy"), "--keep-float", "bad_range", "--debug-quantization"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    path = os.path.join(base, "m_int8.tflite")
    assert sorted(os.listdir(base)) == ["m_int8.labels.txt", "m_int8.quant_debug.json", "m_int8.quant_debug.md",
                                        "m_int8.tflite"]
    assert "layers kept in float32 (1): bad_range" in out
    assert f"quantization debug report: {os.path.join(base, 'm_int8.quant_debug.md')}" in out
    assert read_record(path)["float_layers"] == ["bad_range"]


@pytest.mark.parametrize("extra, match", [
    (["--quantize", "dynamic", "--keep-float", "bad_range"], "--keep-float applies to --quantize int8 only"),
    (["--quantize", "fp16", "--debug-quantization"], "--debug-quantization applies to --quantize int8 only"),
])
def test_flags_need_int8(model_file, tmp_path, capsys, extra, match):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--model", model_file, "--name", "m", "--base", str(tmp_path), "--format", "tflite", *extra])
    assert exit_info.value.code == 2
    assert match in capsys.readouterr().err


def test_unknown_layer_is_a_one_line_error(model_file, tmp_path, capsys):
    np.save(tmp_path / "cal.npy", calibration_images())
    code = cli.main(["--model", model_file, "--name", "m", "--base", str(tmp_path / "o"), "--format", "tflite",
                     "--quantize", "int8", "--data", str(tmp_path / "cal.npy"), "--keep-float", "conv_a,nope"])
    assert code == 1
    assert "keep_float: no layer named 'nope'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "o" / "m_int8.tflite")
