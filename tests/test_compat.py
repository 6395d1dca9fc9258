"""kseg._compat: the private Keras/TF names kseg uses work today, and a release without them fails clearly."""

import keras
import pytest

from kseg import _compat
from kseg.layers import ASPP


@pytest.fixture(scope="module")
def functional():
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", name="conv")
    x = conv(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, keras.layers.ReLU(name="relu")(x)), conv


def test_graph_accessors_on_this_keras(functional):
    model, conv = functional
    assert _compat.is_functional(model)
    assert not _compat.is_functional(keras.Sequential([keras.Input((8, 8, 3)), keras.layers.ReLU()]))
    nodes = _compat.graph_nodes(model)
    assert [node.operation.name for node in nodes] == ["relu", "bn", "conv", model.layers[0].name]
    (node,) = _compat.inbound_nodes(conv)
    assert node.output_tensors[0] is model.get_layer("bn").input
    assert _compat.producing_layer(model.get_layer("bn").input) is conv


def test_flatten_layers_private_and_fallback_agree():
    aspp = ASPP(8, rates=(2, 4))
    aspp.build((None, 16, 16, 3))
    private = _compat.flatten_layers(aspp)
    assert private and all(isinstance(layer, keras.layers.Layer) for layer in private)
    public = _compat._public_sublayers(aspp, {id(aspp)})
    assert {id(layer) for layer in public} == {id(layer) for layer in private}


class _NewKerasLayer(keras.layers.Layer):
    """A layer of a Keras release without the private names."""

    _flatten_layers = None

    def __init__(self):
        super().__init__(name="new")
        self.branches = [keras.layers.Dense(2, name="a"), keras.layers.Dense(3, name="b")]


def test_missing_internals_warn_and_fall_back():
    with pytest.warns(UserWarning, match="no Layer._flatten_layers.*'new' from its attributes"):
        assert [layer.name for layer in _compat.flatten_layers(_NewKerasLayer())] == ["a", "b"]
    with pytest.warns(UserWarning, match="ExportArchive has no _tf_trackable.*twice the model's size"):
        assert _compat.export_archive_trackable(object()) is None
    assert _compat.export_archive_trackable(keras.export.ExportArchive()) is not None


def test_missing_internals_raise_a_clear_error():
    for call, name in [(lambda: _compat.inbound_nodes(object()), "Layer._inbound_nodes"),
                       (lambda: _compat.graph_nodes(object()), "Functional._nodes_by_depth"),
                       (lambda: _compat.producing_layer(object()), "KerasTensor._keras_history")]:
        with pytest.raises(_compat.InternalsChanged, match=rf"kseg reads {name} .*Keras {keras.__version__}.*"
                                                           r"tested with Keras 3.15 / TensorFlow 2.21"):
            call()


def test_tflite_operator_table():
    names = _compat.tflite_builtin_operator_names()
    assert names[3] == "CONV_2D" and names[4] == "DEPTHWISE_CONV_2D" and names[32] == "CUSTOM"


def test_profiler_float_ops_count_a_convolution():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs))
    assert _compat.profiler_float_ops(model, (8, 8, 3)) == 2 * 8 * 8 * 3 * 4 * 9
