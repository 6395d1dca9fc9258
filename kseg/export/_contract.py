"""What every kseg export file shares, with no TensorFlow or Keras: names, paths, sizes.

The runners (``tflite_runtime``, ``kseg.inference``) and the exporters
(``tflite``, ``onnx``, ``saved_model``) import these; the runners must stay
light, so nothing here imports TensorFlow, Keras or the model zoo.
"""

import os

from kseg._io import check_writable_dir

SCORES = "scores"
QUANTIZATIONS = ("none", "fp16", "dynamic", "int8")
# One megabyte in every kseg report (parity, benchmarks, printouts): 10^6 bytes.
BYTES_PER_MB = 10**6
# Files published beside a SavedModel in its version folder; each is its own artefact.
_SEPARATE_ARTEFACTS = (".tflite", ".onnx")
# Folders published in a version folder that are not part of the SavedModel: the Keras preset
# (kseg.models.presets.PRESET_FOLDER, named here without importing the model zoo).
_SEPARATE_FOLDERS = ("preset",)


def labels_path_for(model_path):
    """``model.tflite`` / ``model.onnx`` -> ``model.labels.txt`` (the labels file beside it)."""
    root, _ = os.path.splitext(os.fspath(model_path))
    return root + ".labels.txt"


def size_mb(path):
    """Size in MB (10^6 bytes) of a file, or of a SavedModel folder without the
    ``.tflite`` / ``.onnx`` files and the ``preset/`` folder stored beside it (they are
    separate artefacts)."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return os.path.getsize(path) / BYTES_PER_MB
    total = 0
    for folder, subfolders, files in os.walk(path):
        if folder == path:
            subfolders[:] = [name for name in subfolders if name not in _SEPARATE_FOLDERS]
        total += sum(os.path.getsize(os.path.join(folder, name)) for name in files
                     if not name.endswith(_SEPARATE_ARTEFACTS))
    return total / BYTES_PER_MB


def check_output_path(path, suffix):
    """The exporters' opening check of the file they will write.

    Returns:
        ``path`` as a str.

    Raises:
        ValueError: ``path`` does not end with ``suffix``.
        FileNotFoundError: its folder does not exist.
        PermissionError / NotADirectoryError: its folder is not writable.
    """
    path = os.fspath(path)
    if not path.endswith(suffix):
        raise ValueError(f"path must end with {suffix!r}, got {path!r}.")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"output directory {directory!r} does not exist.")
    check_writable_dir(directory, "output directory")
    return path


def _tensor_text(dtype, shape, note=""):
    dims = ",".join("?" if d is None or (isinstance(d, int) and d < 0) else str(d) for d in shape)
    return f"{dtype} [{dims}]" + (f" {note}" if note else "")


def describe_io(inputs, outputs):
    """One line saying what an exported file takes and gives.

    Args:
        inputs, outputs: lists of ``(name, dtype, shape, note)``; ``shape``
            entries None or negative are dynamic (``?``).

    Returns:
        e.g. ``"input images uint8 [1,360,480,3] 0..255; output classes int32 [1,360,480]"``.
    """
    def part(word, tensors):
        return f"{word} " + ", ".join(f"{name} {_tensor_text(dtype, shape, note)}" for name, dtype, shape, note in tensors)

    return f"{part('input', inputs)}; {part('output', outputs)}"
