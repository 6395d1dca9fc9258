"""Declared heads: every registered model's class-dependent layers, re-heading and weight transfer."""

import keras
import numpy as np
import pytest

import kseg.models
from kseg.models import registry, small


def _build(name, num_classes, seed=0):
    keras.utils.set_random_seed(seed)
    return kseg.models.build(name, num_classes=num_classes, **small.SMALL_CONFIGS[name])


def _shapes(model):
    return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers}


@pytest.mark.parametrize("name", kseg.models.available())
def test_declared_head_is_exactly_the_class_dependent_layers(name):
    """Built with 3 and with 5 classes, the layers whose weights differ in shape are the declared head;
    re-heading the 3-class model to 5 gives the 5-class shapes and keeps every other weight."""
    three, five = _build(name, 3), _build(name, 5, seed=1)
    a, b = _shapes(three), _shapes(five)
    assert a.keys() == b.keys()
    # A declared head layer may belong to an option the small config leaves off (DABNet's stride4_skip).
    assert sorted(k for k in a if a[k] != b[k]) == sorted(h for h in registry.head_layers(name) if h in a)

    reheaded = kseg.models.rehead(three, 5)
    assert _shapes(reheaded) == b and reheaded.name == name
    head = set(registry.head_layers(name))
    for layer in reheaded.layers:
        if layer.weights and layer.name not in head:
            for new, old in zip(layer.get_weights(), three.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(new, old)


@pytest.fixture(scope="module")
def dabnet3():
    return _build("dabnet", 3)


def test_rehead_same_count_is_identity_and_bad_counts_fail(dabnet3):
    assert kseg.models.rehead(dabnet3, 3) is dabnet3
    with pytest.raises(ValueError, match="at least 2"):
        kseg.models.rehead(dabnet3, 1)
    wrapped = kseg.models.with_input_scale(dabnet3, 0.5)
    with pytest.raises(ValueError, match="'dabnet_x0.5' is not a registered kseg model"):
        kseg.models.rehead(wrapped, 5)


def test_reheaded_model_keeps_features_and_trains(dabnet3):
    """Before the head, the re-headed model computes exactly what the original does; it fits."""
    reheaded = kseg.models.rehead(dabnet3, 5)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 48, 3)).astype("float32")
    features = [keras.Model(m.inputs, m.get_layer("stage2_prelu").output) for m in (dabnet3, reheaded)]
    np.testing.assert_allclose(features[0](x), features[1](x), rtol=0, atol=0)
    assert reheaded(x).shape == (2, 32, 48, 5)
    reheaded.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                     run_eagerly=True)  # one step: tracing the graph would cost more than the step
    before = reheaded.get_layer("classifier").get_weights()[0].copy()
    reheaded.fit(x, np.zeros((2, 32, 48), "int32"), epochs=1, verbose=0)
    assert not np.array_equal(reheaded.get_layer("classifier").get_weights()[0], before)


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_load_weights_reheaded_from_other_class_count(dabnet3, tmp_path, suffix):
    path = str(tmp_path / f"three{suffix}")
    dabnet3.save(path) if suffix == ".keras" else dabnet3.save_weights(path)
    target = _build("dabnet", 5, seed=2)
    head_before = target.get_layer("classifier").get_weights()
    assert kseg.models.load_weights_reheaded(target, path) is True
    for layer in target.layers:
        for new, old in zip(layer.get_weights(), dabnet3.get_layer(layer.name).get_weights()):
            if layer.name != "classifier":
                np.testing.assert_array_equal(new, old)
    for new, old in zip(target.get_layer("classifier").get_weights(), head_before):
        np.testing.assert_array_equal(new, old)  # the new head keeps its initialisation
    same = _build("dabnet", 3, seed=3)
    assert kseg.models.load_weights_reheaded(same, path) is False
    np.testing.assert_array_equal(same.get_layer("classifier").get_weights()[0],
                                  dabnet3.get_layer("classifier").get_weights()[0])


def test_load_weights_of_another_architecture_names_the_file(dabnet3, tmp_path):
    path = str(tmp_path / "three.keras")
    dabnet3.save(path)
    other = kseg.models.build("dabnet", num_classes=3, **{**small.SMALL_CONFIGS["dabnet"], "stem_filters": 16})
    with pytest.raises(ValueError, match=r"three\.keras' does not fit model 'dabnet'.*stem"):
        kseg.models.load_weights_reheaded(other, path)


def test_a_zero_layer_the_file_lacks_starts_at_zero_and_any_other_is_refused(dabnet3, tmp_path):
    """DABNet with stride4_skip starts from a file without the skip (its kernel starts at zero: the same
    function); a skip that is not zero, or a layer the target has but the file lacks that is not zero, is
    refused naming the layer."""
    path = str(tmp_path / "three.keras")
    dabnet3.save(path)
    grown = kseg.models.build("dabnet", num_classes=3, stride4_skip=True, **small.SMALL_CONFIGS["dabnet"])
    assert kseg.models.load_weights_reheaded(grown, path) is False
    x = np.random.default_rng(0).uniform(0, 255, (1, 23, 37, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(grown(x)), keras.ops.convert_to_numpy(dabnet3(x)))
    kernel = grown.get_layer("skip4_classifier").kernel
    kernel.assign(np.full(kernel.shape, 0.5, "float32"))
    with pytest.raises(ValueError, match=r"three\.keras' does not fit.*no layer 'skip4_classifier'"):
        kseg.models.load_weights_reheaded(grown, path)
    # Re-heading the grown model replaces its skip too: both are class-dependent.
    five = kseg.models.rehead(grown, 5)
    assert five.get_layer("skip4_classifier").kernel.shape[-1] == 5 and five(x).shape == (1, 23, 37, 5)


def test_register_requires_a_head():
    with pytest.raises(ValueError, match="`head` must name at least one layer"):
        registry.register("no_head_model", head=())(lambda **kwargs: None)
    assert "no_head_model" not in registry.available()
