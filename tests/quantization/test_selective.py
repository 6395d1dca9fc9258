"""export_tflite(quantize="int8", keep_float=..., debug_quantization=True): what stays float, what is recorded."""

import json
import os

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from kseg.export import export_tflite
from kseg.quantization import read_record
from quant_models import bad_range_model, calibration_images


def _tensor_types(path):
    """{layer name: dtypes of the outputs of the ops that compute it} (QUANTIZE/DEQUANTIZE aside)."""
    from kseg.quantization.debugger import layers_of_tensor

    names = ["conv_a", "bad_range", "concat", "head"]
    interpreter = Interpreter(model_path=path)
    tensors = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    types = {}
    for op in interpreter._get_ops_details():
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
            continue
        output = tensors[op["outputs"][0]]
        for layer in layers_of_tensor(output["name"], names):
            types.setdefault(layer, set()).add(np.dtype(output["dtype"]).name)
    return types


@pytest.fixture(scope="module")
def model():
    return bad_range_model()


def test_keep_float_keeps_exactly_the_named_layers_in_float(model, tmp_path):
    path = export_tflite(model, str(tmp_path / "m_int8.tflite"), quantize="int8",
                         representative_data=calibration_images(), keep_float=["bad_range"])
    types = _tensor_types(path)
    assert "float32" in types["bad_range"] and "int8" not in types["bad_range"]
    for layer in ("conv_a", "concat"):  # head's output is named after the signature, not the layer
        assert "int8" in types[layer] and "float32" not in types[layer], (layer, types[layer])
    record = read_record(path)
    assert record["float_layers"] == ["bad_range"]
    assert record["lowered"] == {"prelu": [], "batchnorm": [], "average_pool": []}


def test_plain_int8_has_no_float_layer_and_a_debug_report_beside_it(model, tmp_path):
    path = export_tflite(model, str(tmp_path / "m_int8.tflite"), quantize="int8",
                         representative_data=calibration_images(), debug_quantization=True)
    types = _tensor_types(path)
    assert all("float32" not in dtypes for dtypes in types.values()), types
    record = read_record(path)
    assert record["float_layers"] == []
    assert record["debug_report"] == [str(tmp_path / "m_int8.quant_debug.json"), str(tmp_path / "m_int8.quant_debug.md")]
    with open(tmp_path / "m_int8.quant_debug.json") as handle:
        layers = json.load(handle)["layers"]
    # The head's output carries the signature's name (StatefulPartitionedCall:1): no layer to name.
    assert {row["layer"] for row in layers} == {"conv_a", "bad_range", "concat", ""}
    assert os.path.getsize(tmp_path / "m_int8.quant_debug.md") > 0


def test_auto_keeps_the_fewest_worst_layers_that_restore_agreement(model, tmp_path):
    # Calibrated on dark images; the held-back (last) images are bright, where bad_range decides class 2.
    images = np.concatenate([calibration_images(12), calibration_images(4, low=235, high=255, seed=2)])
    path = export_tflite(model, str(tmp_path / "m_int8.tflite"), quantize="int8", representative_data=images,
                         keep_float="auto")
    record = read_record(path)
    tried = record["auto"]["tried"]
    assert tried[0][0] == 0 and tried[0][1] < 0.99  # all-int8 misses class 2 on some bright pixels
    assert record["auto"]["agreement"] >= 0.99 and record["auto"]["held_back_images"] == 4
    assert record["float_layers"] == ["bad_range"]  # the worst-ranked layer, and enough
    assert [count for count, _ in tried] == [0, 1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(keep_float=["nope"]), "keep_float: no layer named 'nope'"),
    (dict(quantize="dynamic", keep_float=["conv_a"]), "apply to quantize='int8' only"),
    (dict(lower_int8="yes"), "lower_int8 must be"),
])
def test_bad_selective_arguments_fail_clearly(model, tmp_path, kwargs, match):
    kwargs = {"quantize": "int8", "representative_data": calibration_images(), **kwargs}
    with pytest.raises(ValueError, match=match):
        export_tflite(model, str(tmp_path / "m.tflite"), **kwargs)
    assert not os.path.exists(tmp_path / "m.tflite")
