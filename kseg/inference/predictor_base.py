"""``Predictor``: the one interface over every model kseg runs (Keras, SavedModel, TFLite, ONNX).

It holds no framework import, so the predictors built on it (``tflite_predictor``,
``onnx_predictor``) and ``load_predictor`` sit above it without a circle.
"""

import numpy as np


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
