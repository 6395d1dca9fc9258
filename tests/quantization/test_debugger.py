"""debug_quantization: TFLite's QuantizationDebugger, per layer, worst first."""

import json

import pytest

from kseg.quantization import debugger
from quant_models import bad_range_model, calibration_images


def test_layer_of_tensor_reads_traced_names_and_fused_ops():
    names = ["stage2_dab2_ddconv1x3", "stage2_dab2_ddconv1x3_bn", "stage2", "preprocess"]
    fused = "dabnet_1/stage2_dab2_ddconv1x3_bn_1/batchnorm/mul_1;dabnet_1/stage2_dab2_ddconv1x3_1/depthwise"
    assert debugger.layers_of_tensor(fused, names) == {"stage2_dab2_ddconv1x3", "stage2_dab2_ddconv1x3_bn"}
    assert debugger.layer_of_tensor(fused, names) == "stage2_dab2_ddconv1x3_bn"
    assert debugger.layer_of_tensor("dabnet_1/preprocess_1/sub", names) == "preprocess"
    assert debugger.layer_of_tensor("StatefulPartitionedCall:0", names) == ""


@pytest.fixture(scope="module")
def bad_range_rows():
    # Calibrated on pixels <= 240, measured on bright images (230..255): bad_range saturates.
    return debugger.debug_quantization(bad_range_model(), calibration_images(), debug_data=calibration_images(
        low=230, high=255, seed=1))


def test_the_layer_given_a_bad_range_ranks_first(bad_range_rows):
    first = bad_range_rows[0]
    assert first["layer"] == "bad_range"
    assert first["rank"] == 1 and first["op"] == "CONV_2D"
    assert first["error_over_scale"] > 10 * debugger.ROUNDING_ONLY
    # Ranked by error / scale, worst first; conv_a (brighter inputs, a little past its range) is far behind.
    ratios = [row["error_over_scale"] for row in bad_range_rows]
    assert ratios == sorted(ratios, reverse=True)
    conv_a = next(row for row in bad_range_rows if row["layer"] == "conv_a")
    assert conv_a["rank"] == 2 and conv_a["error_over_scale"] < first["error_over_scale"] / 4


def test_report_files_hold_the_ranked_rows(bad_range_rows, tmp_path):
    json_path, md_path = debugger.write_report(bad_range_rows, str(tmp_path / "model_int8"))
    assert json_path.endswith("model_int8.quant_debug.json") and md_path.endswith("model_int8.quant_debug.md")
    with open(json_path) as handle:
        saved = json.load(handle)
    assert saved["layers"] == json.loads(json.dumps(bad_range_rows))
    table = open(md_path).read().splitlines()
    assert table[6].startswith("| 1 | bad_range | CONV_2D | ")
    assert len(table) == 6 + len(bad_range_rows)


def test_a_model_of_any_size_needs_input_size():
    import keras

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match="takes any size; pass input_size"):
        debugger.debug_quantization(model, calibration_images())


def test_quantization_sits_below_export_and_models_never_import_it():
    from tests.test_imports import KSEG_ROOT, import_graph

    graph = import_graph(KSEG_ROOT)
    assert "export" not in graph["quantization"] and "models" not in graph["quantization"]
    assert "quantization" not in graph["models"] and "quantization" not in graph["layers"]
