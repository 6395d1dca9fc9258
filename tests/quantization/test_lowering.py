"""lower_for_int8: same float outputs, and an int8 file without PRELU or unfolded batch norms."""

import keras
import numpy as np
import pytest

import kseg.models
from kseg.export import export_tflite, tflite_ops
from kseg.models.small import SMALL_CONFIGS
from kseg.quantization import LoweredPReLU, lower_for_int8, lowered_layers, read_record
from kseg.quantization.lowering import RequantizedAveragePooling2D


def _randomised_dabnet(activation="prelu"):
    keras.utils.set_random_seed(3)
    model = kseg.models.dabnet(num_classes=4, activation=activation, **SMALL_CONFIGS["dabnet"])
    rng = np.random.default_rng(3)
    for layer in model.layers:  # trained-looking statistics and slopes, not the identity of a fresh init
        if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.PReLU)):
            weights = layer.get_weights()
            layer.set_weights([rng.uniform(0.2, 1.5, w.shape).astype("float32") if i in (0, 3) or
                               isinstance(layer, keras.layers.PReLU) else rng.normal(0, 0.3, w.shape).astype("float32")
                               for i, w in enumerate(weights)])
            if isinstance(layer, keras.layers.PReLU):
                layer.set_weights([rng.uniform(-0.4, 0.7, weights[0].shape).astype("float32")])
    return model


@pytest.fixture(scope="module")
def dabnet_pair():
    model = _randomised_dabnet()
    return model, lower_for_int8(model)


def test_lowered_model_gives_the_same_logits(dabnet_pair):
    model, lowered = dabnet_pair
    images = np.random.default_rng(0).uniform(0, 255, (2, 40, 56, 3)).astype("float32")
    np.testing.assert_allclose(lowered.predict(images, verbose=0), model.predict(images, verbose=0), atol=2e-4)
    assert not lowered.trainable


def test_every_prelu_and_every_unfoldable_batch_norm_is_rewritten(dabnet_pair):
    model, lowered = dabnet_pair
    targets = lowered_layers(model)
    prelus = [layer.name for layer in model.layers if isinstance(layer, keras.layers.PReLU)]
    assert targets["prelu"] == prelus
    assert all(isinstance(lowered.get_layer(name), LoweredPReLU) for name in prelus)
    # Batch norms after an Add or Concatenate (module inputs/outputs, stage concats) are 1x1 depthwise convs;
    # those after a convolution are folded into it.
    assert "stage1_dab1_in_bn" in targets["batchnorm"] and "stage0_bn" in targets["batchnorm"]
    assert "stem_conv1_bn" not in targets["batchnorm"]
    assert isinstance(lowered.get_layer("stage0_bn"), keras.layers.DepthwiseConv2D)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in lowered.layers)
    # The input injection's first pools read the normalised image that stem_conv1 reads too.
    assert targets["average_pool"] == ["input_injection1_pool1", "input_injection2_pool1", "input_injection3_pool1"]
    assert all(isinstance(lowered.get_layer(name), RequantizedAveragePooling2D) for name in targets["average_pool"])
    assert type(lowered.get_layer("input_injection2_pool2")) is keras.layers.AveragePooling2D


def test_lowered_prelu_matches_the_slopes():
    layer = LoweredPReLU(3)
    layer.build((None, 1, 4, 3))
    alpha = np.array([0.25, -0.5, 0.0], "float32")
    layer.set_alpha(alpha)
    x = np.array([[[[-2.0, -1.0, 3.0], [4.0, -8.0, -1.0], [0.0, 0.5, -0.5], [-4.0, 2.0, 1.0]]]], "float32")
    expected = np.where(x > 0, x, alpha * x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-6)
    assert LoweredPReLU.from_config(layer.get_config()).channels == 3
    with pytest.raises(ValueError, match="expected 3 slopes, got 2"):
        layer.set_alpha([0.1, 0.2])


@pytest.mark.slow
def test_int8_export_lowers_by_default_no_prelu_and_no_standalone_mul(dabnet_pair, tmp_path):
    model, _ = dabnet_pair
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 48, 3)).astype("uint8")
    plain = export_tflite(model, str(tmp_path / "plain.tflite"), input_size=(32, 48), quantize="int8",
                          representative_data=images, lower_int8=False)
    low = export_tflite(model, str(tmp_path / "low.tflite"), input_size=(32, 48), quantize="int8",
                        representative_data=images)  # lower_int8="auto"
    assert {"PRELU", "MUL"} <= set(tflite_ops(plain))
    ops = set(tflite_ops(low))
    assert "PRELU" not in ops
    # MUL left: the in-graph pixel normalisation only (x / 127.5 - 1), no batch norm.
    assert ops <= {"QUANTIZE", "DEQUANTIZE", "CAST", "MUL", "SUB", "ADD", "CONV_2D", "DEPTHWISE_CONV_2D",
                   "CONCATENATION", "MAX_POOL_2D", "AVERAGE_POOL_2D", "RESIZE_BILINEAR", "ARG_MAX"}
    record = read_record(low)
    assert record["lowered"] == lowered_layers(model) and read_record(plain)["lowered"] == {}
