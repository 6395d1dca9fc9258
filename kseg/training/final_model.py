"""The model a run ends with, saved without optimizer state: the papers' "last weights" protocol."""

import os

import keras

from kseg._io import atomic_path, atomic_write_json
from kseg.training.distillation import student_of


def save_final_model(model, filepath, **info):
    """Save ``model``'s current weights as an uncompiled ``.keras`` file, plus ``filepath + ".json"``.

    A :class:`~kseg.training.distillation.Distiller` saves its student only.
    The copy shares the layers (no weights are copied) and carries no
    optimizer state: about a third of a training checkpoint. After ``fit``
    with an EMA of the weights, the weights are the averages (Keras'
    ``finalize_variable_values``). ``info`` (JSON values: epochs, EMA
    momentum...) goes to the side file. Both files are written atomically.

    Returns:
        ``filepath``.
    """
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"filepath must end in '.keras', got {filepath!r}.")
    network = student_of(model)
    copy = keras.Model(network.input, network.output, name=network.name)
    os.makedirs(os.path.dirname(os.path.abspath(filepath)), exist_ok=True)
    with atomic_path(filepath, suffix=".keras") as tmp:
        copy.save(tmp)
    atomic_write_json(filepath + ".json", dict(info))
    return filepath
