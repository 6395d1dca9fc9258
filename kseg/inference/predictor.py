"""One interface over a `.keras` model, an exported SavedModel, a `.tflite` and a `.onnx` file."""

import json
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kseg.export.labels import read_labels
from kseg.export.metadata import METADATA_FILENAME
from kseg.inference.predictor_base import Predictor
from kseg.inference.onnx_predictor import onnx_predictor
from kseg.inference.tflite_predictor import tflite_predictor
import kseg  # noqa: F401  (registers every kseg object a .keras file may hold)

__all__ = ["Predictor", "keras_predictor", "load_predictor"]

# Files that run as exported, by suffix: a fixed contract (uint8 images in, classes out).
_EXPORTED_FILES = {".tflite": tflite_predictor, ".onnx": onnx_predictor}


def _labels_beside(path):
    for candidate in (Path(path) / "assets.extra" / "labels.txt", Path(path) / "labels.txt",
                      Path(str(path) + ".labels.txt")):
        if candidate.is_file():
            return read_labels(candidate) or None
    return None


def _saved_model_channels(path, signature):
    """C of a SavedModel's images: its kseg export record, else the signature's static shape."""
    record = Path(path) / "assets.extra" / METADATA_FILENAME
    if record.is_file():
        try:
            channels = json.loads(record.read_text()).get("input_channels")
        except (OSError, ValueError, AttributeError):
            channels = None
        if isinstance(channels, int) and channels > 0:
            return channels
    return signature.structured_input_signature[1]["images"].shape[-1]


def load_predictor(path, tta=None, tile=None, tile_overlap=0.25, num_threads=1):
    """Load a ``.keras`` file, a SavedModel directory (``saved_model.pb`` inside), a kseg ``.tflite`` or ``.onnx``.

    A ``.tflite`` gives a ``kseg.inference.TFLitePredictor`` (the file's fixed
    input size), a ``.onnx`` an ``OnnxPredictor`` (ONNX Runtime); both run
    ``num_threads`` threads.

    ``tta`` (a ``.keras`` file only): a ``kseg.models.parse_tta`` spec such as
    ``"flip"``; the model is wrapped by ``kseg.models.with_tta``. A SavedModel
    runs as exported (export the TTA model to serve TTA).

    ``tile`` (a ``.keras`` file only): ``(H, W)``: run the model in sliding
    windows with ``tile_overlap`` (``kseg.models.with_tiling``), after TTA.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` exists but is not a model kseg can run, with the reason.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Model {path!r} does not exist.")
    suffix = os.path.splitext(path)[1].lower()
    exported_file = suffix in _EXPORTED_FILES and os.path.isfile(path)
    if tta and exported_file:
        raise ValueError(f"--tta applies to .keras models; {path!r} is a {suffix} (export a TTA model instead).")
    if tile and (os.path.isdir(path) or exported_file):
        raise ValueError(f"--tile applies to .keras models; {path!r} runs as exported (export it with "
                         "`pipelines.export --tile H W` instead).")
    if exported_file:
        return _EXPORTED_FILES[suffix](path, num_threads=num_threads)
    if tta and os.path.isdir(path):
        raise ValueError(f"--tta applies to .keras models; {path!r} is a SavedModel (export a TTA model with "
                         "`pipelines.export --tta` instead).")
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ValueError(
                f"Model directory {path!r} holds no saved_model.pb: give a .keras file or a SavedModel "
                "version directory such as saved_models/NAME/1."
            )
        try:
            loaded = tf.saved_model.load(path)
            signature = loaded.signatures["serving_default"]
        except (KeyError, ValueError, OSError, tf.errors.OpError) as error:
            raise ValueError(f"{path!r} is not a servable kseg SavedModel: {error}") from None
        names = _labels_beside(path)

        def run(images):
            outputs = signature(images=tf.constant(images, tf.uint8))
            return outputs["classes"].numpy()

        return Predictor(path, "saved_model", run, len(names) if names else None, names,
                         _saved_model_channels(path, signature))
    # Importing the distillation module registers Distiller: a best.keras that older kseg versions
    # wrote during distillation (the student inside its training wrapper) loads, and predicts with the student.
    from kseg.training.distillation import student_of

    try:
        model = student_of(keras.saving.load_model(path, safe_mode=True))
    except Exception as error:  # keras raises many types for a bad archive
        # Keras wraps the cause in the whole model config: keep the cause.
        message = str(error).rsplit("Exception encountered: ", 1)[-1].split(" Full object config:")[0]
        raise ValueError(f"{path!r} is not a loadable .keras model: {type(error).__name__}: {message[:500]}") from None
    if tta:
        from kseg.models import parse_tta, with_tta

        model = with_tta(model, **parse_tta(tta))
    if tile:
        from kseg.models import with_tiling

        model = with_tiling(model, tuple(tile), tile_overlap)
    return keras_predictor(model, path, _labels_beside(path))


def keras_predictor(model, path="<in memory>", class_names=None):
    """A ``Predictor`` over an in-memory kseg ``keras.Model`` (raw-pixel input, logits output)."""

    @tf.function(reduce_retracing=True, autograph=False)  # no Python control flow to convert
    def infer(images):
        logits = model(tf.cast(images, tf.float32), training=False)
        return tf.argmax(logits, axis=-1, output_type=tf.int32)

    def run(images):
        return infer(tf.constant(images)).numpy()

    return Predictor(path, "keras", run, int(model.outputs[0].shape[-1]), class_names,
                     model.inputs[0].shape[-1], accepts_float=True)
