"""ONNX export: uint8 images in, int32 classes out, the Keras model's answers in ONNX Runtime."""

import os

import keras
import numpy as np
import pytest

import toy_models
from kseg import export
from kseg.export import onnx as kseg_onnx
from pipelines import export as cli

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _session(path):
    return kseg_onnx.onnx_session(path)


def _run(path, images):
    session = _session(path)
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {"images": images})))


@pytest.fixture(scope="module")
def dynamic_export(tmp_path_factory):
    """(model, path) of the toy encoder-decoder exported at any size, with scores and labels."""
    model = toy_models.encoder_decoder()
    path = tmp_path_factory.mktemp("onnx") / "toy.onnx"
    export.export_onnx(model, path, include_scores=True, class_names=["red", "green", "blue"])
    return model, str(path)


def test_uint8_images_in_int32_classes_out_at_any_size(dynamic_export, rng):
    model, path = dynamic_export
    session = _session(path)
    (images_input,) = session.get_inputs()
    assert (images_input.name, images_input.type) == ("images", "tensor(uint8)")
    assert images_input.shape == ["batch", "height", "width", 3]
    assert [o.shape for o in session.get_outputs()] == [["batch", "height", "width"], ["batch", "height", "width", 3]]
    assert {o.name: o.type for o in session.get_outputs()} == {"classes": "tensor(int32)", "scores": "tensor(float)"}
    # Batch 2 at a size that is no multiple of the model's /4: resized inside the graph and back.
    images = rng.integers(0, 256, (2, 61, 67, 3), dtype=np.uint8)
    outputs = _run(path, images)
    reference = export.reference_logits(model, images)
    assert outputs["classes"].dtype == np.int32 and outputs["classes"].shape == (2, 61, 67)
    np.testing.assert_array_equal(outputs["classes"], reference.argmax(-1))
    np.testing.assert_allclose(outputs["scores"], reference, atol=1e-4)
    # Normalisation is inside the graph: raw pixels give the Keras model's own logits.
    direct = model(images[:, :60, :64].astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(_run(path, images[:, :60, :64])["scores"], direct, atol=1e-4)
    assert export.read_labels(export.labels_path_for(path)) == ["red", "green", "blue"]


def test_float_images_are_rejected(dynamic_export):
    _, path = dynamic_export
    with pytest.raises(Exception, match="INVALID_ARGUMENT.*Actual: \\(tensor\\(float\\)\\) , expected: \\(tensor\\(uint8\\)\\)"):
        _session(path).run(None, {"images": np.zeros((1, 32, 32, 3), np.float32)})


def test_fixed_input_size_and_fixed_size_model(tmp_path, rng):
    model = toy_models.encoder_decoder()
    path = export.export_onnx(model, tmp_path / "fixed.onnx", input_size=(32, 48))
    session = _session(path)
    assert session.get_inputs()[0].shape[1:] == [32, 48, 3]
    assert [o.name for o in session.get_outputs()] == ["classes"]
    images = rng.integers(0, 256, (3, 32, 48, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_run(path, images)["classes"], export.reference_logits(model, images).argmax(-1))
    with pytest.raises(Exception, match="images"):
        session.run(None, {"images": images[:, :31]})

    # A model that takes one size only: any input is resized to it and the classes back.
    fixed = toy_models.fixed_size()
    path = export.export_onnx(fixed, tmp_path / "toy_fixed.onnx")
    images = rng.integers(0, 256, (1, 40, 50, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_run(path, images)["classes"], export.reference_logits(fixed, images).argmax(-1))


@pytest.mark.parametrize("opset", [kseg_onnx.MIN_OPSET, kseg_onnx.MAX_OPSET])
def test_opset(opset, tmp_path, toy_model, rng):
    path = export.export_onnx(toy_model, tmp_path / "toy.onnx", input_size=(32, 32), opset=opset)
    assert {o.domain: o.version for o in onnx.load(path).opset_import}[""] == opset
    images = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_run(path, images)["classes"], export.reference_logits(toy_model, images).argmax(-1))


def test_only_standard_onnx_operators(dynamic_export):
    ops = export.onnx_ops(dynamic_export[1])
    assert {"Conv", "ArgMax", "Cast"} <= set(ops), ops
    assert not [op for op in ops if ":" in op], ops


def test_non_standard_operators_are_refused():
    from onnx import TensorProto, helper

    node = helper.make_node("MaxPoolWithArgmax", ["images"], ["classes"], domain="org.tensorflow")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("images", TensorProto.UINT8, [1, 4, 4, 3])],
        [helper.make_tensor_value_info("classes", TensorProto.INT32, [1, 4, 4])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("org.tensorflow", 1)])
    with pytest.raises(ValueError, match=r"'toy'.*non-standard ops \['org.tensorflow:MaxPoolWithArgmax'\]"):
        kseg_onnx._check_exported(proto, "toy", include_scores=False)
    cast = helper.make_model(helper.make_graph(
        [helper.make_node("Cast", ["images"], ["classes"], to=TensorProto.INT32)], "g", graph.input, graph.output,
    ), opset_imports=[helper.make_opsetid("", 15)])
    kseg_onnx._check_exported(cast, "toy", include_scores=False)
    with pytest.raises(ValueError, match=r"outputs \['classes'\]; expected \['images'\] and \['classes', 'scores'\]"):
        kseg_onnx._check_exported(cast, "toy", include_scores=True)


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        (dict(path="model.tflite"), ValueError, "path must end with '.onnx'"),
        (dict(model="not a model"), TypeError, "model must be a keras.Model, got str"),
        (dict(input_size=(32,)), ValueError, "input_size must be \\(height, width\\) positive ints"),
        (dict(input_size=(0, 32)), ValueError, "input_size must be \\(height, width\\) positive ints"),
        (dict(opset=7), ValueError, "opset must be an int in 13..18"),
        (dict(path="no/such/dir/model.onnx"), FileNotFoundError, "output directory .*no/such/dir' does not exist"),
    ],
)
def test_bad_arguments(arguments, error, message, tmp_path, toy_model):
    arguments = dict(arguments)
    model = arguments.pop("model", toy_model)
    path = tmp_path / arguments.pop("path", "model.onnx")
    with pytest.raises(error, match=message):
        export.export_onnx(model, path, **arguments)
    assert os.listdir(tmp_path) == []


def test_a_model_that_is_not_a_segmentation_model_is_refused(tmp_path):
    classifier = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"model must have one output of shape \(B, H, W, num_classes\)"):
        export.export_onnx(classifier, tmp_path / "classifier.onnx")
    assert os.listdir(tmp_path) == []


def test_failed_conversion_leaves_no_file(tmp_path, toy_model, monkeypatch):
    path = tmp_path / "toy.onnx"
    path.write_bytes(b"the previous model")

    def broken_export(self, filepath, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"half a model")
        raise RuntimeError("tf2onnx: unsupported op")

    monkeypatch.setattr(keras.Model, "export", broken_export)
    with pytest.raises(ValueError, match="ONNX conversion of 'toy_encoder_decoder' failed:\ntf2onnx: unsupported op"):
        export.export_onnx(toy_model, path)
    assert path.read_bytes() == b"the previous model"
    assert sorted(os.listdir(tmp_path)) == ["toy.onnx"]


def test_missing_onnx_packages_name_the_extra(tmp_path, toy_model, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_tf2onnx(name, *args, **kwargs):
        if name == "tf2onnx":
            raise ModuleNotFoundError("No module named 'tf2onnx'", name="tf2onnx")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_tf2onnx)
    with pytest.raises(ImportError, match=r'tf2onnx is missing.*pip install "kseg\[onnx\]"'):
        export.export_onnx(toy_model, tmp_path / "toy.onnx")


def test_serving_wrapper_round_trips_with_safe_mode(tmp_path, toy_model, rng):
    wrapper = kseg_onnx.ServingClasses(toy_model, include_scores=True)
    assert wrapper.get_config()["size_divisor"] == 4
    images = rng.integers(0, 256, (1, 30, 34, 3), dtype=np.uint8)
    expected = wrapper(images)
    path = tmp_path / "wrapper.keras"
    wrapper.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    got = restored(images)
    np.testing.assert_array_equal(got["classes"], expected["classes"])
    np.testing.assert_allclose(got["scores"], expected["scores"], atol=1e-5)


def test_cli_format_onnx(tmp_path, toy_model, capsys, rng):
    model_file = str(tmp_path / "toy.keras")
    toy_model.save(model_file)
    base = str(tmp_path / "out")
    args = ["--model", model_file, "--name", "toy", "--base", base, "--format", "onnx"]
    assert cli.main(args + ["--input-size", "32", "32", "--scores"]) == 0
    path = os.path.join(base, "toy.onnx")
    assert "ONNX written" in capsys.readouterr().out
    assert _session(path).get_inputs()[0].shape[1:] == [32, 32, 3]
    assert cli.main(args) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert cli.main(args + ["--force"]) == 0
    images = rng.integers(0, 256, (1, 40, 24, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_run(path, images)["classes"], export.reference_logits(toy_model, images).argmax(-1))
    with pytest.raises(SystemExit):
        cli.main(args + ["--quantize", "fp16"])
    assert "--quantize applies to --format tflite only" in capsys.readouterr().err


# Every zoo model's ONNX export is checked in tests/export/test_model_matrix.py.
