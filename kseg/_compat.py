"""The one door to private Keras and TensorFlow internals.

kseg needs a few things the public APIs do not offer: the layer graph of a
functional model and the layer behind a tensor (receptive field, batch-norm
folding, backbone taps), the sublayers a custom layer owns (FLOP counts),
the TF object behind Keras' ``ExportArchive`` (SavedModel size), TFLite's
flatbuffer reader and operator table (operator names) and TF's graph
profiler (benchmarks). Each is reached here and nowhere else, so a Keras or TensorFlow
release that renames one breaks this file only, with an error that says what
changed. Written against Keras 3.15 and TensorFlow 2.21.

Where a public fallback exists the accessor warns and falls back
(``flatten_layers``, ``export_archive_trackable``); otherwise it raises
``InternalsChanged``.
"""

import warnings

import keras

TESTED_WITH = "Keras 3.15 / TensorFlow 2.21"


class InternalsChanged(RuntimeError):
    """A private Keras/TensorFlow name kseg relies on is gone or changed."""


def _changed(what, needed_for, error=None):
    import tensorflow as tf

    detail = f" ({type(error).__name__}: {error})" if error else ""
    return InternalsChanged(
        f"kseg reads {what} for {needed_for}, and Keras {keras.__version__} / TensorFlow {tf.__version__} "
        f"does not provide it{detail}. kseg is tested with {TESTED_WITH}: install those versions, "
        "or adapt kseg/_compat.py to the new release."
    )


def inbound_nodes(layer):
    """The call nodes of ``layer`` (``Layer._inbound_nodes``): one per call, in any model.

    Each node has ``operation``, ``input_tensors``, ``output_tensors`` and
    ``parent_nodes``.
    """
    try:
        return list(layer._inbound_nodes)
    except AttributeError as error:
        raise _changed("Layer._inbound_nodes", "walking a model's layer graph", error) from None


def is_functional(model):
    """Whether ``model`` is a functional ``keras.Model`` (``keras.Model(inputs, outputs)``, keras.applications).

    Sequential and subclassed models are not (a built Sequential model can
    be wrapped: ``keras.Model(seq.inputs, seq.outputs)``).
    """
    try:
        from keras.src.models.functional import Functional
    except ImportError as error:
        raise _changed("keras.src.models.functional.Functional", "telling functional models apart", error) from None
    return isinstance(model, Functional)


def graph_nodes(model):
    """Every call node of the functional ``model``'s own graph (``Functional._nodes_by_depth``).

    Layers reused from another model (``keras.applications`` backbones)
    carry that model's nodes too; these are the ones of ``model`` only.
    """
    try:
        nodes_by_depth = model._nodes_by_depth
    except AttributeError as error:
        raise _changed("Functional._nodes_by_depth", "walking a model's layer graph", error) from None
    return [node for depth in sorted(nodes_by_depth) for node in nodes_by_depth[depth]]


def producing_layer(tensor):
    """The layer whose call returned the symbolic ``tensor`` (``KerasTensor._keras_history``)."""
    try:
        return tensor._keras_history[0]
    except (AttributeError, IndexError, TypeError) as error:
        raise _changed("KerasTensor._keras_history", "finding the layer that produced a tensor", error) from None


def _public_sublayers(layer, seen):
    """The layers held in ``layer``'s attributes (lists and dicts included), depth first."""
    found = []

    def visit(value):
        if isinstance(value, keras.layers.Layer):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
                found.extend(_public_sublayers(value, seen))
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for name, value in vars(layer).items():
        if name not in ("_inbound_nodes", "_outbound_nodes"):
            visit(value)
    return found


def flatten_layers(layer):
    """Every layer ``layer`` owns, recursively, itself excluded (``Layer._flatten_layers``).

    Falls back, with a warning, to the layers held in its attributes when a
    Keras release drops the private method.
    """
    method = getattr(layer, "_flatten_layers", None)
    if method is not None:
        try:
            return list(method(include_self=False, recursive=True))
        except TypeError:
            pass  # the signature changed: the fallback below still finds the sublayers
    warnings.warn(
        f"Keras {keras.__version__} has no Layer._flatten_layers(include_self, recursive); kseg lists the "
        f"sublayers of {layer.name!r} from its attributes instead (tested with {TESTED_WITH}).",
        stacklevel=2,
    )
    return _public_sublayers(layer, {id(layer)})


def export_archive_trackable(archive):
    """The ``tf.Module`` behind a ``keras.export.ExportArchive`` (``ExportArchive._tf_trackable``), or None.

    None comes with a warning: the export still works, it only cannot drop
    the duplicated variable lists (a SavedModel twice its size).
    """
    trackable = getattr(archive, "_tf_trackable", None)
    if trackable is None:
        warnings.warn(
            f"Keras {keras.__version__}'s ExportArchive has no _tf_trackable; the SavedModel keeps Keras' "
            f"duplicate variable lists and is about twice the model's size (tested with {TESTED_WITH}).",
            stacklevel=2,
        )
    return trackable


def tflite_builtin_operator_names():
    """``{builtin operator code: name}`` from TFLite's flatbuffer schema (``schema_py_generated``)."""
    try:
        from tensorflow.lite.python import schema_py_generated as schema

        table = vars(schema.BuiltinOperator)
    except (ImportError, AttributeError) as error:
        raise _changed("tensorflow.lite.python.schema_py_generated.BuiltinOperator",
                       "naming the operators of a TFLite file", error) from None
    return {code: name for name, code in table.items() if not name.startswith("_")}


def tflite_operator_codes(content):
    """``[(builtin code, custom name or None), ...]``: the operator table of a TFLite flatbuffer (``bytes``).

    Read with ``tensorflow.lite.tools.flatbuffer_utils`` (TF's flatbuffer
    reader, not a public API).
    """
    try:
        from tensorflow.lite.tools import flatbuffer_utils

        parsed = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
        codes = [(max(code.builtinCode, code.deprecatedBuiltinCode), code.customCode)
                 for code in parsed.operatorCodes]
    except (ImportError, AttributeError) as error:
        raise _changed("tensorflow.lite.tools.flatbuffer_utils", "reading the operators of a TFLite file",
                       error) from None
    return [(builtin, custom.decode() if isinstance(custom, bytes) else custom) for builtin, custom in codes]


def profiler_float_ops(model, input_shape):
    """Float operations of ``model``'s frozen inference graph for one ``input_shape`` image (TF profiler).

    Uses ``tensorflow.python.framework.convert_to_constants`` and
    ``tensorflow.python.profiler`` (TF internals; benchmarks only).
    """
    import tensorflow as tf

    try:
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
        from tensorflow.python.profiler import model_analyzer, option_builder
    except ImportError as error:
        raise _changed("tensorflow.python.profiler", "counting FLOPs with the TF profiler", error) from None
    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec((1, *input_shape), tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    options = option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation()
                                                  ).with_empty_output().build()
    return int(model_analyzer.profile(graph=frozen.graph, options=options).total_float_ops)
