"""ONNX export of a segmentation model, built on Keras's ``Model.export(format="onnx")``.

The .onnx has the contract of kseg's .tflite: input ``images`` uint8
``[N, H, W, C]`` (raw RGB) -> output ``classes`` int32 ``[N, H, W]`` and,
with ``include_scores``, ``scores`` float32 ``[N, H, W, num_classes]``
(logits). Normalisation, any resize the model needs and the argmax run
inside the graph. The batch is dynamic; with ``input_size=None`` height
and width are dynamic too (ONNX Runtime, unlike TFLite, takes any size).

Needs the ``onnx`` extra (``pip install "kseg[onnx]"``: tf2onnx, onnx,
onnxruntime); Keras converts through tf2onnx on the TensorFlow backend.
"""

import contextlib
import io
import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from kseg._checks import check_int, positive_int
from kseg._io import atomic_path
from kseg._nested import unwrap_config, wrapper_config
from kseg.export import _graph
from kseg.export._contract import SCORES, describe_io, labels_path_for
from kseg.export._graph import check_input_size, spec_for_size
from kseg.export.labels import resolve_class_names, write_labels
from kseg.serving import signatures as sig

INSTALL_HINT = 'pip install "kseg[onnx]"'
# Operator domains ONNX Runtime implements for any model; tf2onnx leaves a
# TensorFlow op it cannot convert in the graph under its TF name.
STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
# The opsets kseg tests (13, the default 15 and 18, the newest tf2onnx 1.17 writes).
MIN_OPSET, MAX_OPSET = 13, 18
DIMENSION_NAMES = ("batch", "height", "width")


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as error:
        raise ImportError(f"ONNX export needs tf2onnx and onnx ({error.name} is missing): {INSTALL_HINT}") from error


@keras.saving.register_keras_serializable(package="kseg")
class ServingClasses(keras.Model):
    """uint8 images ``[N, H, W, C]`` -> ``{"classes": int32 [N, H, W]}`` (and ``scores``).

    Wraps a float segmentation model (raw 0..255 pixels -> logits) with the
    export contract: cast, resize to what the model takes and back, argmax.
    It holds no weights of its own.

    Args:
        model: the segmentation ``keras.Model``.
        size_divisor: input-size multiple the model needs (see
            ``kseg.export._graph.inspect_model``); None: probed.
        include_scores: also output ``scores`` (float32 logits).
    """

    def __init__(self, model, size_divisor=None, include_scores=False, **kwargs):
        kwargs.setdefault("name", f"{model.name}_serving_classes")
        # Keras exports float32 models only; the wrapper itself computes in float32.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.model = model
        self.spec = _graph.inspect_model(model, size_divisor=size_divisor)
        self.size_divisor = self.spec.size_divisor
        self.include_scores = bool(include_scores)
        self.built = model.built

    def call(self, images):
        logits = _graph.predict_logits(self.model, self.spec, images)
        return _graph.logits_to_outputs(logits, include_scores=self.include_scores)

    def get_config(self):
        return wrapper_config(super().get_config(), self.model, size_divisor=self.size_divisor,
                              include_scores=self.include_scores)

    @classmethod
    def from_config(cls, config):
        return cls(**unwrap_config(config))


def onnx_ops(model):
    """Sorted ``domain:op_type`` names (``op_type`` alone for the default domain) of an ONNX model (path or bytes)."""
    _require_onnx()
    import onnx

    proto = onnx.load_from_string(bytes(model)) if isinstance(model, (bytes, bytearray)) else onnx.load(os.fspath(model))
    return sorted({node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}:{node.op_type}"
                   for node in proto.graph.node})


def describe_onnx(path):
    """What a kseg .onnx takes and gives, one line (``kseg.export._contract.describe_io``)."""
    _require_onnx()
    import onnx

    proto = onnx.load(os.fspath(path))

    def rows(values):
        result = []
        for value in values:
            tensor = value.type.tensor_type
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
            shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
            note = {sig.IMAGES: "0..255", sig.CLASSES: "class ids", SCORES: "logits"}.get(value.name, "")
            result.append((value.name, dtype, shape, note))
        return result

    return describe_io(rows(proto.graph.input), rows(proto.graph.output))


def _check_exported(proto, model_name, include_scores):
    """Raise ValueError unless ``proto`` (an ``onnx.ModelProto``) is valid ONNX with the kseg contract."""
    import onnx

    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as error:
        raise ValueError(f"ONNX export of {model_name!r} is not a valid ONNX model: {error}") from error
    foreign = sorted({f"{node.domain}:{node.op_type}" for node in proto.graph.node if node.domain not in STANDARD_DOMAINS})
    if foreign:
        raise ValueError(f"ONNX export of {model_name!r} contains non-standard ops {foreign}; ONNX Runtime cannot run it.")
    inputs = [i.name for i in proto.graph.input]
    outputs = sorted(o.name for o in proto.graph.output)
    expected = sorted([sig.CLASSES] + ([SCORES] if include_scores else []))
    if inputs != [sig.IMAGES] or outputs != expected:
        raise ValueError(
            f"ONNX export of {model_name!r} has inputs {inputs} and outputs {outputs}; expected [{sig.IMAGES!r}] and {expected}."
        )


def _name_dynamic_dimensions(proto):
    """Call the dynamic dimensions batch, height, width (tf2onnx leaves ``unk__<n>``).

    ``classes`` and ``scores`` share the names of ``images``: they are at
    the input resolution.
    """
    for value in list(proto.graph.input) + list(proto.graph.output):
        for dim, name in zip(value.type.tensor_type.shape.dim, DIMENSION_NAMES):
            if not dim.HasField("dim_value"):
                dim.dim_param = name


def export_onnx(
    model,
    path,
    *,
    input_size=None,
    include_scores=False,
    class_names=None,
    size_divisor=None,
    opset=None,
):
    """Write an ``.onnx`` file (see module docstring) and its labels file.

    Args:
        model: keras model, float32 raw pixels (0..255) -> logits.
        path: output file, must end in ``.onnx``; the labels file goes to
            ``labels_path_for(path)`` (``model.onnx`` -> ``model.labels.txt``).
            Written through a temporary file and a rename: readers never
            see a half-written model.
        input_size: ``(H, W)`` fixed input size; None: any height and width
            (a fixed-size model's input is resized to its size in the graph).
        include_scores: also output ``scores`` (float32 logits).
        class_names: names for the labels file; default ``class_<i>``.
        size_divisor: input-size multiple the model needs; default: probed.
        opset: ONNX opset, MIN_OPSET..MAX_OPSET; None: tf2onnx's default.

    Returns:
        ``path``.
    """
    path = _graph.check_export_target(model, path, ".onnx")
    opset = check_int(opset, "opset", minimum=MIN_OPSET, maximum=MAX_OPSET, allow_none=True)
    _require_onnx()
    spec = _graph.inspect_model(model, size_divisor=size_divisor or 1)
    if input_size is not None:
        input_size = check_input_size(input_size, spec)
        spec = spec_for_size(model, input_size, size_divisor)
    elif spec.fixed_size is None and size_divisor is None:
        spec = _graph.inspect_model(model)
    class_names = resolve_class_names(class_names, spec.num_classes)

    serving = ServingClasses(model, size_divisor=spec.size_divisor, include_scores=include_scores)
    height, width = input_size if input_size is not None else (None, None)
    signature = [tf.TensorSpec([None, height, width, spec.channels], tf.uint8, name=sig.IMAGES)]
    # Written beside ``path`` and renamed into place (fsync'd, world-readable like every kseg file).
    with atomic_path(path, suffix=".tmp.onnx") as tmp:
        # tf2onnx logs every rewrite pass to stdout and stderr.
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), warnings.catch_warnings():
                # Keras's numpy-2 patch of tf2onnx sets np.object, which NumPy warns about.
                warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)
                serving.export(tmp, format="onnx", verbose=False, input_signature=signature, opset_version=opset)
        except Exception as error:  # tf2onnx's own errors are several screens long
            lines = [line for line in str(error).splitlines() if line.strip()]
            raise ValueError(f"ONNX conversion of {model.name!r} failed:\n" + "\n".join(lines[-8:])) from error
        import onnx

        proto = onnx.load(tmp)
        _check_exported(proto, model.name, include_scores)
        _name_dynamic_dimensions(proto)
        onnx.save(proto, tmp)
    write_labels(labels_path_for(path), class_names)
    return path


def onnx_session(path, num_threads=1):
    """An ONNX Runtime CPU ``InferenceSession`` for a kseg .onnx with ``num_threads`` intra-op threads."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(f"running an .onnx needs onnxruntime: {INSTALL_HINT}") from error
    positive_int(num_threads, "num_threads")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    # Warnings only: tf2onnx writes nearest resizes with the deprecated (still
    # supported) tf_half_pixel_for_nn mode, which ONNX Runtime logs per node.
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])


def onnx_parity(model, onnx_path, images, *, num_threads=1, masks=None, ignore_id=255, min_runs=10):
    """Run a kseg .onnx with ONNX Runtime and compare it with the Keras model.

    Args:
        model: the Keras model that was exported.
        onnx_path: the ``.onnx`` from ``export_onnx``.
        images: uint8 ``[N, H, W, C]`` (at the file's input size if it has one).
        num_threads: ONNX Runtime intra-op threads.
        masks: optional int32 ``[N, H, W]`` ground truth for the mIoU of both.
        min_runs: timed batch-1 runs (cycling through images), at least.

    Returns:
        dict: ``class_agreement_pct``, ``max_abs_logit_diff`` (None unless the
        file outputs ``scores``), ``latency_ms`` (median, batch 1),
        ``size_mb``, ``num_threads``, and with masks ``miou_keras``,
        ``miou_onnx``, ``miou_drop``.
    """
    from kseg.export.parity import runtime_parity

    session = onnx_session(onnx_path, num_threads)
    names = [output.name for output in session.get_outputs()]

    def run(batch):
        results = [dict(zip(names, session.run(None, {sig.IMAGES: image[None]}))) for image in batch]
        return {name: np.concatenate([r[name] for r in results]) for name in names}

    return runtime_parity(model, onnx_path, images, run, runtime="onnx", num_threads=num_threads, masks=masks,
                          ignore_id=ignore_id, min_runs=min_runs)
