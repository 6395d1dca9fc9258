"""DABNet: the paper's structure and size, any input size, the DAB module's residual."""

import importlib

import keras
import numpy as np
import pytest

import kseg.models
from kseg.layers import receptive_field
from kseg.models.small import SMALL_CONFIGS

# ``kseg.models.dabnet`` is the builder; the module holds the blocks.
dab = importlib.import_module("kseg.models.dabnet")


@pytest.fixture(scope="module")
def paper_model():
    keras.utils.set_random_seed(0)
    return kseg.models.dabnet(num_classes=11)


def test_paper_configuration_has_0_76m_parameters_and_the_papers_dilations(paper_model):
    # 760,828 shared + (259 + 1) per class for the 1x1 classifier on the 259-channel concat.
    assert paper_model.count_params() == 763_688
    assert kseg.models.dabnet(num_classes=19).count_params() == 763_688 + 8 * 260
    rates = [paper_model.get_layer(f"stage2_dab{i}_ddconv3x1").dilation_rate for i in range(1, 7)]
    assert rates == [(d, 1) for d in (4, 4, 8, 8, 16, 16)]
    assert paper_model.get_layer("stage2_dab6_ddconv1x3").dilation_rate == (1, 16)
    assert all(paper_model.get_layer(f"stage1_dab{i}_ddconv1x3").dilation_rate == (1, 2) for i in (1, 2, 3))
    # Stage 1's downsampling: 29 conv channels + the 35-channel max pooling = 64 (ENet-style).
    assert paper_model.get_layer("stage1_down_conv").filters == 29
    assert paper_model.get_layer("classifier").kernel.shape == (1, 1, 259, 11)


def test_batch_norm_follows_the_reference_momentum_and_epsilon(paper_model):
    # PyTorch's BatchNorm2d(eps=1e-3) with momentum 0.1 = Keras momentum 0.9 (0.99 lagged from scratch).
    norms = [layer for layer in paper_model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 3 + 1 + 1 + 3 * 7 + 1 + 1 + 6 * 7 + 1  # stem, concats, downsamplings, 7 per module
    assert {(layer.momentum, layer.epsilon) for layer in norms} == {(0.9, 1e-3)}


def test_receptive_field_covers_a_camvid_frame_at_stride_8(paper_model):
    assert receptive_field(paper_model) == (1087, 8)


def test_gflops_at_camvid_resolution(paper_model):
    assert kseg.models.flops(paper_model, (360, 480, 3)) == pytest.approx(6.726e9, rel=1e-3)


def _small(**kwargs):
    keras.utils.set_random_seed(1)
    return kseg.models.dabnet(num_classes=4, **{**SMALL_CONFIGS["dabnet"], **kwargs})


def test_any_input_size_gives_the_static_models_answer():
    dynamic = _small()
    static = _small(input_shape=(37, 53, 3))
    static.set_weights(dynamic.get_weights())
    images = np.random.default_rng(0).uniform(0, 255, (2, 37, 53, 3)).astype("float32")
    expected = static.predict(images, verbose=0)
    assert expected.shape == (2, 37, 53, 4)
    np.testing.assert_allclose(dynamic.predict(images, verbose=0), expected, atol=1e-5)


def test_dab_module_is_the_identity_plus_its_projection():
    inputs = keras.Input((9, 11, 8))
    module = keras.Model(inputs, dab.dab_module(inputs, 3, name="m"))
    x = np.random.default_rng(2).normal(size=(1, 9, 11, 8)).astype("float32")
    projection = module.get_layer("m_conv1x1")
    projection.kernel.assign(np.zeros(projection.kernel.shape, "float32"))
    np.testing.assert_array_equal(module.predict(x, verbose=0), x)
    # With a projection, an impulse spreads +-1 row (3x3 conv) then +-1 (plain 3x1) or +-3 (3x1 dilated
    # by 3): rows 7-4 .. 7+4 change, the rest stay exactly zero (no biases; BN beta and PReLU(0) are 0).
    projection.kernel.assign(np.ones(projection.kernel.shape, "float32"))
    impulse = np.zeros((1, 15, 11, 8), "float32")
    impulse[0, 7, 5] = 1.0
    tall = keras.Model(inputs := keras.Input((15, 11, 8)), dab.dab_module(inputs, 3, name="m"))
    tall.set_weights(module.get_weights())
    changed = np.abs(tall.predict(impulse, verbose=0) - impulse).max(axis=(0, 2, 3)) > 1e-6
    assert np.flatnonzero(changed).tolist() == list(range(3, 12))


@pytest.mark.parametrize("activation, layer_type", [
    ("relu", keras.layers.ReLU), ("relu6", keras.layers.ReLU), ("leaky_relu", keras.layers.LeakyReLU),
])
def test_activation_swaps_every_prelu_and_keeps_the_other_layer_names(activation, layer_type):
    prelu = _small()
    other = _small(activation=activation)
    prelu_layers = [layer for layer in prelu.layers if isinstance(layer, keras.layers.PReLU)]
    swapped = [layer for layer in other.layers if isinstance(layer, layer_type)]
    assert not any(isinstance(layer, keras.layers.PReLU) for layer in other.layers)
    assert [layer.name.replace("_prelu", f"_{activation}") for layer in prelu_layers] == [
        layer.name for layer in swapped]
    # Convolutions and batch norms keep their names: a PReLU model's weights load into them by name.
    kept = {layer.name for layer in prelu.layers} - {layer.name for layer in prelu_layers}
    assert kept == {layer.name for layer in other.layers} - {layer.name for layer in swapped}
    assert prelu.count_params() - other.count_params() == sum(layer.count_params() for layer in prelu_layers)
    x = np.array([[-2.0, -0.5, 0.0, 3.0, 7.5]], "float32")
    expected = {"relu": np.maximum(x, 0), "relu6": np.clip(x, 0, 6), "leaky_relu": np.where(x > 0, x, 0.1 * x)}
    np.testing.assert_allclose(keras.ops.convert_to_numpy(swapped[0](x)), expected[activation], rtol=1e-6)


def test_stride4_skip_adds_a_zero_1x1_of_stage1_that_draws_at_stride_4():
    """The skip adds (2 x stage1 + 3) x classes weights and starts at zero: the same logits as the
    model without it. Its detail is stride 4: one stage-1 cell moves 8 rows of the output (a stride-8
    cell of the classifier spreads over 16)."""
    plain, skip = _small(), _small(stride4_skip=True)  # same seed: the skip is the last layer built
    assert skip.count_params() - plain.count_params() == (2 * 16 + 3) * 4
    x = np.random.default_rng(1).uniform(0, 255, (1, 32, 48, 3)).astype("float32")
    np.testing.assert_array_equal(skip.predict(x, verbose=0), plain.predict(x, verbose=0))
    classifier = skip.get_layer("skip4_classifier")
    classifier.kernel.assign(np.ones(classifier.kernel.shape, "float32"))
    impulse = np.zeros((1, 8, 12, 35), "float32")  # stage 1's output: 32x48 at stride 4
    impulse[0, 4, 6, 0] = 1.0
    spread = keras.ops.convert_to_numpy(skip.get_layer("skip4_upsample")([classifier(impulse), x]))
    assert np.flatnonzero(spread.max(axis=(0, 2, 3)) > 0).tolist() == list(range(14, 22))
    with pytest.raises(ValueError, match="stride4_skip.*True or False"):
        kseg.models.dabnet(num_classes=3, stride4_skip="yes")


def test_paper_model_with_relu_has_4553_fewer_parameters():
    assert kseg.models.dabnet(num_classes=11, activation="relu").count_params() == 763_688 - 4_553


@pytest.mark.parametrize("kwargs, match", [
    (dict(stage1_filters=63), "stage1_filters.*even"),
    (dict(stage2_filters=0), "stage2_filters"),
    (dict(stage2_dilations=()), "stage2_dilations"),
    (dict(stage2_dilations=(4, 0)), "stage2_dilations"),
    (dict(stage1_blocks=-1), "stage1_blocks"),
    (dict(num_classes=0), "num_classes"),
    (dict(activation="gelu"), "activation.*prelu, relu, relu6, leaky_relu.*gelu"),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kseg.models.dabnet(**{"num_classes": 3, **kwargs})
