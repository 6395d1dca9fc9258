"""One interface over a `.keras` model, an exported SavedModel and a `.tflite` file."""

import json
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kseg.export.labels import read_labels
from kseg.export.metadata import METADATA_FILENAME
import kseg  # noqa: F401  (registers every kseg object a .keras file may hold)


class Predictor:
    """Maps uint8 images ``[N, H, W, 3]`` to class maps ``int32 [N, H, W]``.

    Built by ``load_predictor``; ``source`` is ``"keras"``, ``"saved_model"``
    or ``"tflite"``. The first two run at the image's own resolution (kseg
    models accept any size); a ``.tflite`` runs at the size it was exported for.
    """

    def __init__(self, path, source, fn, num_classes=None, class_names=None, channels=None, accepts_float=False):
        self.path, self.source, self._fn = str(path), source, fn
        self.num_classes, self.class_names = num_classes, class_names
        # C the model takes; None when the model does not say (no check).
        self.channels = channels
        # A Keras model takes float raw pixels (0..255) too, e.g. resized images
        # exactly as fit's validation pass feeds them; exported files take uint8 only.
        self.accepts_float = accepts_float

    def classes(self, images):
        """uint8 ``[N, H, W, C]`` (or one ``[H, W, C]``) -> int32 ``[N, H, W]``.

        ``accepts_float`` predictors take float raw pixels as well.

        Raises:
            ValueError: not uint8 (or float when accepted), not rank 3/4, or C is not the model's
                (``images: expected 3 channels, got 6``): a first convolution
                would otherwise fail with its own message or, for a multiple
                of C, answer as if the image were C-channel groups.
        """
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        floating = self.accepts_float and np.issubdtype(images.dtype, np.floating)
        if images.ndim != 4 or not (images.dtype == np.uint8 or floating):
            raise ValueError(
                f"Predictor expects uint8 images [N, H, W, C]; got {images.dtype} {images.shape}."
            )
        if self.channels is not None and images.shape[-1] != self.channels:
            raise ValueError(f"images: expected {self.channels} channels, got {images.shape[-1]}.")
        return np.asarray(self._fn(images), dtype=np.int32)


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


def load_predictor(path, tta=None, tile=None, tile_overlap=0.25):
    """Load a ``.keras`` file, a SavedModel directory (``saved_model.pb`` inside) or a kseg ``.tflite``.

    A ``.tflite`` gives a ``kseg.inference.TFLitePredictor`` (one thread, the
    file's fixed input size); use ``tflite_predictor`` for more threads.

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
    if path.endswith(".tflite") and os.path.isfile(path):
        if tta:
            raise ValueError(f"--tta applies to .keras models; {path!r} is a .tflite (export a TTA model instead).")
        from kseg.inference.tflite_predictor import tflite_predictor  # it builds on Predictor

        return tflite_predictor(path)
    if tile and (os.path.isdir(path) or path.endswith(".tflite")):
        raise ValueError(f"--tile applies to .keras models; {path!r} runs as exported (export it with "
                         "`pipelines.export --tile H W` instead).")
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
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # keras raises many types for a bad archive
        raise ValueError(f"{path!r} is not a loadable .keras model: {type(error).__name__}: {error}") from None
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
