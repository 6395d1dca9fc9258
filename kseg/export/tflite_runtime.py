"""Running a kseg ``.tflite`` file: one runner for parity checks, benchmarks and ``kseg.inference``.

The file's ``serving_default`` signature takes uint8 ``images [1, H, W, C]``
at the size fixed at export and returns int32 ``classes [1, H, W]`` (and,
with ``include_scores``, ``scores [1, H, W, K]``). It runs in ai-edge-litert's
``Interpreter``; ``tf.lite.Interpreter`` (deprecated in TF 2.20+) is the
fallback only when ai-edge-litert is not installed. Users call
``kseg.inference.tflite_predictor`` (a ``Predictor``), which wraps this.
"""

import os
import warnings

import numpy as np

from kseg.export._contract import SCORES, describe_io
from kseg.serving import signatures as sig


def tflite_interpreter(path, num_threads=1):
    """An allocated interpreter for ``path``: ai-edge-litert's, else TensorFlow's with a warning."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        warnings.warn(
            "ai-edge-litert is not installed (`pip install ai-edge-litert`): running "
            f"{os.fspath(path)!r} with tf.lite.Interpreter, which TensorFlow deprecates and which may "
            "differ from the on-device runtime.", RuntimeWarning, stacklevel=3)
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=os.fspath(path), num_threads=num_threads)


def _io_notes(details):
    """``(name, dtype, shape, note)`` of interpreter tensor details (dict name -> details)."""
    rows = []
    for name, d in details.items():
        dtype = np.dtype(d["dtype"]).name
        scale, zero_point = d.get("quantization", (0.0, 0))
        if name == sig.IMAGES and dtype == "uint8":
            note = "0..255"
        elif scale and dtype in ("int8", "uint8"):
            note = f"quantized: value = {scale:.4g} * (q - {zero_point})"
        else:
            note = {sig.CLASSES: "class ids", SCORES: "logits"}.get(name, "")
        rows.append((name, dtype, [int(v) for v in d["shape"]], note))
    return rows


def describe_tflite(path):
    """What a .tflite takes and gives, one line (see ``kseg.export._contract.describe_io``).

    The signature's tensor names when the file has a signature, else the graph's.
    """
    interpreter = tflite_interpreter(path)
    signatures = interpreter.get_signature_list()
    if signatures:
        runner = interpreter.get_signature_runner(next(iter(signatures)))
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
    else:
        inputs = {d["name"]: d for d in interpreter.get_input_details()}
        outputs = {d["name"]: d for d in interpreter.get_output_details()}
    return describe_io(_io_notes(inputs), _io_notes(outputs))


def _dequantize(array, details):
    """Float values of a quantized (int8/uint8) output; other outputs unchanged."""
    scale, zero_point = details.get("quantization", (0.0, 0))
    if np.issubdtype(array.dtype, np.floating) or array.dtype == np.int32 or not scale:
        return array
    return (array.astype(np.float32) - zero_point) * scale


class TFLiteRunner:
    """The ``serving_default`` signature of a kseg ``.tflite`` file, run one image at a time.

    Attributes:
        input_size: ``(H, W)`` the file was exported for; images of another
            size are refused (export at that size, or resize first).
        channels: C of the input.
        num_threads: interpreter threads.
        num_classes: K from the ``scores`` output, None without it.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a kseg .tflite (no ``serving_default`` taking uint8 ``images``).
    """

    def __init__(self, path, *, num_threads=1):
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"TFLite model {path!r} does not exist.")
        try:
            interpreter = tflite_interpreter(path, num_threads)
            runner = interpreter.get_signature_runner(sig.SERVING_DEFAULT)
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"{path!r} is not a kseg .tflite with a {sig.SERVING_DEFAULT!r} signature: "
                             f"{error}") from None
        inputs = runner.get_input_details()
        if sig.IMAGES not in inputs or inputs[sig.IMAGES]["dtype"] != np.uint8:
            raise ValueError(f"{path!r} does not take uint8 {sig.IMAGES!r} (its inputs: "
                             f"{ {k: (v['dtype'].__name__, list(v['shape'])) for k, v in inputs.items()} }): "
                             "export it with kseg.export.export_tflite.")
        shape = tuple(int(d) for d in inputs[sig.IMAGES]["shape"])
        self.input_size, self.channels, self.num_threads = shape[1:3], shape[3], num_threads
        self._runner = runner
        self._output_details = runner.get_output_details()
        scores = self._output_details.get(SCORES)
        self.path = path
        self.num_classes = int(scores["shape"][-1]) if scores is not None else None

    def _check(self, images):
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [N, H, W, C]; got {images.dtype} {images.shape}.")
        if tuple(images.shape[1:]) != (*self.input_size, self.channels):
            raise ValueError(
                f"images are {images.shape[1]}x{images.shape[2]}x{images.shape[3]} but {self.path} was exported "
                f"for {self.input_size[0]}x{self.input_size[1]}x{self.channels}: a .tflite has a fixed size; "
                "resize the images or export at their size (export_tflite(..., input_size=(H, W)))."
            )
        return images

    def outputs(self, images):
        """Every output for uint8 ``images [N, H, W, C]`` (run one at a time), concatenated.

        Returns:
            dict: ``classes`` int32 ``[N, H, W]`` and, if the file has them,
            ``scores`` float32 ``[N, H, W, K]`` (dequantized when stored as int8).
        """
        images = self._check(images)
        results = [self._runner(**{sig.IMAGES: image[None]}) for image in images]
        return {name: np.concatenate([_dequantize(r[name], self._output_details[name]) for r in results])
                for name in results[0]}
