"""kseg: a Keras 3 / TensorFlow semantic segmentation model zoo.

Subpackages: ``layers`` (upsampling, unpooling, dilation/ASPP), ``backbones``,
``models`` (the zoo and its registry), ``data`` (tf.data sources and
augmentation), ``losses``, ``metrics``, ``training`` (callbacks, schedules,
strategies, precision), ``graph`` (walkers over a model's layer graph:
receptive field, FLOPs, batch-norm folding), ``inference`` (load, evaluate, predict, draw), ``export`` (SavedModel
for TF Serving, builtin-only TFLite), ``serving`` (REST/gRPC clients) and
``workflows`` (the end-to-end training run, on top of all the others).
"""

import importlib
import os

# TensorFlow's C++ start-up chatter hides the messages users need to read.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_SUBPACKAGES = (
    "layers", "backbones", "models", "data", "losses", "metrics",
    "training", "graph", "inference", "export", "serving", "workflows",
)


# Everything that registers Keras objects loads with `import kseg`, so
# `keras.saving.load_model("model.keras", safe_mode=True)` finds them.
from kseg import backbones, layers, losses, metrics, models, training  # noqa: E402,F401
# Registers the quantization-aware layers, so a --qat model loads wherever kseg is imported (export, evaluate, predict).
from kseg import quantization  # noqa: E402,F401


def __getattr__(name):
    # The other subpackages load on first use.
    if name in _SUBPACKAGES:
        return importlib.import_module(f"kseg.{name}")
    raise AttributeError(f"module 'kseg' has no attribute {name!r}")


__all__ = list(_SUBPACKAGES)
