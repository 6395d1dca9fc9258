"""One export core: what every format shares is defined once, and the light runner stays light."""

import ast
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import toy_models
from kseg import export
from kseg.export import _contract, _graph

EXPORT_DIR = Path(export.__file__).resolve().parent
REPO = EXPORT_DIR.parents[1]
# Modules a light runner must not load: TensorFlow, Keras, the converter, the zoo.
HEAVY = ("tensorflow", "keras", "kseg.models", "kseg.export.tflite", "kseg.export.onnx", "kseg.export._graph")


def _top_level_imports(path):
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


@pytest.mark.parametrize("module", ["tflite_runtime.py", "_contract.py"])
def test_light_modules_import_no_tensorflow_keras_or_converter(module):
    imports = _top_level_imports(EXPORT_DIR / module)
    heavy = [name for name in imports if name.startswith(HEAVY)]
    assert heavy == [], f"{module} imports {heavy}"


def test_importing_the_runner_loads_no_exporter():
    code = ("import sys, kseg.export.tflite_runtime; "
            "print(sorted(m for m in ('kseg.export.tflite', 'kseg.export.onnx', 'kseg.export.parity', "
            "'kseg.export.saved_model') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_shared_names_are_the_same_objects_everywhere():
    from kseg.export import onnx, parity, tflite, tflite_runtime

    assert tflite.SCORES is onnx.SCORES is parity.SCORES is tflite_runtime.SCORES is _contract.SCORES == "scores"
    assert tflite.labels_path_for is onnx.labels_path_for is export.labels_path_for is _contract.labels_path_for
    assert tflite.check_input_size is onnx.check_input_size is _graph.check_input_size
    assert tflite.spec_for_size is onnx.spec_for_size is _graph.spec_for_size
    assert export.labels_path_for("a/m.onnx") == export.labels_path_for("a/m.tflite") == "a/m.labels.txt"


def test_size_mb_is_one_definition(tmp_path):
    from benchmarks._common import artefact_size_mb

    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "saved_model.pb").write_bytes(b"\0" * 1_500_000)
    (tmp_path / "v" / "variables").mkdir()
    (tmp_path / "v" / "variables" / "data").write_bytes(b"\0" * 250_000)
    (tmp_path / "v" / "model_fp32.tflite").write_bytes(b"\0" * 999_999)  # its own artefact
    (tmp_path / "v" / "model.onnx").write_bytes(b"\0" * 999_999)
    (tmp_path / "v" / "preset").mkdir()  # the Keras preset published beside the SavedModel: its own artefact
    (tmp_path / "v" / "preset" / "model.keras").write_bytes(b"\0" * 999_999)
    (tmp_path / "v" / "variables" / "preset").write_bytes(b"\0" * 10_000)  # inside the SavedModel: counted
    assert export.size_mb(tmp_path / "v" / "saved_model.pb") == 1.5  # 10^6 bytes, not MiB
    assert export.size_mb(tmp_path / "v") == 1.76
    assert artefact_size_mb(tmp_path / "v") == export.size_mb(tmp_path / "v")
    assert artefact_size_mb(tmp_path / "v" / "model.onnx") == 0.999999


def test_size_mb_leaves_out_the_folder_presets_are_published_in():
    from kseg.export._contract import _SEPARATE_FOLDERS
    from kseg.models.presets import PRESET_FOLDER

    assert PRESET_FOLDER in _SEPARATE_FOLDERS


def test_parity_reports_the_benchmarks_size(tmp_path):
    from benchmarks._common import artefact_size_mb

    model = toy_models.encoder_decoder(input_shape=(16, 16, 3))
    path = export.export_tflite(model, tmp_path / "m.tflite")
    images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    report = export.tflite_parity(model, path, images, min_runs=1)
    assert report["size_mb"] == artefact_size_mb(path) == os.path.getsize(path) / 1e6
    assert report["class_agreement_pct"] == 100.0


def test_logits_to_outputs_values():
    import tensorflow as tf

    logits = tf.constant([[[[0.0, 2.0, 1.0], [3.0, -1.0, 0.0]]]])  # [1, 1, 2, 3]
    outputs = _graph.logits_to_outputs(logits, include_scores=True, include_probabilities=True)
    np.testing.assert_array_equal(outputs["classes"].numpy(), [[[1, 0]]])
    np.testing.assert_array_equal(outputs["scores"].numpy(), logits.numpy())
    expected = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(-1, keepdims=True)
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, rtol=1e-6)
    assert set(_graph.logits_to_outputs(logits)) == {"classes"}


@pytest.mark.parametrize("suffix", [".tflite", ".onnx"])
def test_exporters_share_their_opening_checks(suffix, tmp_path, toy_model):
    exporter = export.export_tflite if suffix == ".tflite" else export.export_onnx
    with pytest.raises(ValueError, match=f"path must end with '{suffix}', got '.*m.txt'"):
        exporter(toy_model, tmp_path / "m.txt", input_size=(16, 16))
    with pytest.raises(FileNotFoundError, match="output directory '.*no/dir' does not exist"):
        exporter(toy_model, tmp_path / "no" / "dir" / f"m{suffix}", input_size=(16, 16))
    with pytest.raises(TypeError, match="model must be a keras.Model, got str"):
        exporter("model", tmp_path / f"m{suffix}", input_size=(16, 16))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", [".tflite", ".onnx"])
def test_exported_files_are_world_readable(suffix, tmp_path):
    pytest.importorskip("onnx") if suffix == ".onnx" else None
    model = toy_models.encoder_decoder(input_shape=(16, 16, 3))
    exporter = export.export_tflite if suffix == ".tflite" else export.export_onnx
    old = os.umask(0o022)
    try:
        path = exporter(model, tmp_path / f"m{suffix}")
    finally:
        os.umask(old)
    for written in (path, export.labels_path_for(path)):
        assert stat.S_IMODE(os.stat(written).st_mode) == 0o644, written
    assert sorted(os.listdir(tmp_path)) == ["m.labels.txt", f"m{suffix}"]  # no temporary left behind


def test_describe_io_line():
    line = _contract.describe_io([("images", "uint8", [1, 360, 480, 3], "0..255")],
                                 [("classes", "int32", [1, 360, 480], ""), ("scores", "float32", [None, -1, 4, 11], "logits")])
    assert line == ("input images uint8 [1,360,480,3] 0..255; "
                    "output classes int32 [1,360,480], scores float32 [?,?,4,11] logits")


def test_describe_tflite_and_onnx_files(tmp_path):
    from kseg.export.tflite_runtime import describe_tflite

    model = toy_models.encoder_decoder(input_shape=(16, 24, 3))
    path = export.export_tflite(model, tmp_path / "m.tflite", include_scores=True)
    assert describe_tflite(path) == ("input images uint8 [1,16,24,3] 0..255; "
                                     "output classes int32 [1,16,24] class ids, scores float32 [1,16,24,3] logits")
    pytest.importorskip("onnx")
    from kseg.export.onnx import describe_onnx

    path = export.export_onnx(toy_models.encoder_decoder(), tmp_path / "m.onnx")
    assert describe_onnx(path) == "input images uint8 [?,?,?,3] 0..255; output classes int32 [?,?,?] class ids"
