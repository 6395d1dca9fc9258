"""A ``Predictor`` over a kseg ``.tflite`` file (fp32, fp16, dynamic or int8).

Runs in ai-edge-litert's ``Interpreter`` (``tf.lite.Interpreter`` only when
ai-edge-litert is missing, with a warning) through
``kseg.export.tflite_runtime.TFLiteRunner``, the one TFLite runner.
"""

import os

from kseg.export.labels import read_labels
from kseg.export._contract import labels_path_for
from kseg.export.tflite_runtime import TFLiteRunner, tflite_interpreter
from kseg.inference.predictor_base import Predictor
from kseg.serving import signatures as sig

__all__ = ["TFLitePredictor", "tflite_interpreter", "tflite_predictor"]


class TFLitePredictor(Predictor):
    """``Predictor`` (``source == "tflite"``) over a kseg ``.tflite`` file.

    ``classes(images)`` takes uint8 ``[N, H, W, C]`` at the file's fixed
    size (another size is a ValueError saying both sizes) and returns int32
    ``[N, H, W]``; ``outputs(images)`` adds ``scores`` when the file has them.

    Attributes:
        input_size: ``(H, W)`` the file was exported for.
        channels, num_threads: of the input / the interpreter.
    """

    def __init__(self, path, *, num_threads=1, class_names=None):
        runner = TFLiteRunner(path, num_threads=num_threads)
        labels = labels_path_for(runner.path)
        if class_names is None and os.path.isfile(labels):
            class_names = read_labels(labels) or None
        num_classes = runner.num_classes if runner.num_classes is not None else (
            len(class_names) if class_names else None)
        super().__init__(runner.path, "tflite", lambda images: runner.outputs(images)[sig.CLASSES],
                         num_classes, class_names)
        self.input_size, self.channels, self.num_threads = runner.input_size, runner.channels, num_threads
        self.outputs = runner.outputs


def tflite_predictor(path, *, num_threads=1, class_names=None):
    """A ``TFLitePredictor`` for a kseg ``.tflite`` file (labels from ``<stem>.labels.txt`` if present)."""
    return TFLitePredictor(path, num_threads=num_threads, class_names=class_names)
