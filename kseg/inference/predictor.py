"""One interface over a `.keras` model and an exported SavedModel."""

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kseg.export.labels import read_labels
import kseg  # noqa: F401  (registers every kseg object a .keras file may hold)


class Predictor:
    """Maps uint8 images ``[N, H, W, 3]`` to class maps ``int32 [N, H, W]``.

    Built by ``load_predictor``; ``source`` is ``"keras"`` or ``"saved_model"``.
    Both run at the image's own resolution (kseg models accept any size).
    """

    def __init__(self, path, source, fn, num_classes=None, class_names=None):
        self.path, self.source, self._fn = str(path), source, fn
        self.num_classes, self.class_names = num_classes, class_names

    def classes(self, images):
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError(
                f"Predictor expects uint8 images [N, H, W, C]; got {images.dtype} {images.shape}."
            )
        return np.asarray(self._fn(images), dtype=np.int32)


def _labels_beside(path):
    for candidate in (Path(path) / "assets.extra" / "labels.txt", Path(path) / "labels.txt",
                      Path(str(path) + ".labels.txt")):
        if candidate.is_file():
            return read_labels(candidate) or None
    return None


def load_predictor(path, tta=None):
    """Load a ``.keras`` file or a SavedModel directory (``saved_model.pb`` inside).

    ``tta`` (a ``.keras`` file only): a ``kseg.models.parse_tta`` spec such as
    ``"flip"``; the model is wrapped by ``kseg.models.with_tta``. A SavedModel
    runs as exported (export the TTA model to serve TTA).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` exists but is not a model kseg can run, with the reason.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Model {path!r} does not exist.")
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

        return Predictor(path, "saved_model", run, len(names) if names else None, names)
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # keras raises many types for a bad archive
        raise ValueError(f"{path!r} is not a loadable .keras model: {type(error).__name__}: {error}") from None
    if tta:
        from kseg.models import parse_tta, with_tta

        model = with_tta(model, **parse_tta(tta))
    return keras_predictor(model, path, _labels_beside(path))


def keras_predictor(model, path="<in memory>", class_names=None):
    """A ``Predictor`` over an in-memory kseg ``keras.Model`` (raw-pixel input, logits output)."""

    @tf.function(reduce_retracing=True, autograph=False)  # no Python control flow to convert
    def infer(images):
        logits = model(tf.cast(images, tf.float32), training=False)
        return tf.argmax(logits, axis=-1, output_type=tf.int32)

    def run(images):
        return infer(tf.constant(images)).numpy()

    return Predictor(path, "keras", run, int(model.outputs[0].shape[-1]), class_names)
