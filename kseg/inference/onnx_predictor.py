"""A ``Predictor`` over a kseg ``.onnx`` file, run by ONNX Runtime (CPU).

The file's contract (``kseg.export.export_onnx``): uint8 ``images
[N, H, W, C]`` -> int32 ``classes [N, H, W]``. Height and width are any size
unless the file was exported at a fixed ``input_size``. Needs onnxruntime
(``pip install -e ".[onnx]"``), imported only here.
"""

import os

import numpy as np

from kseg.export import labels_path_for, read_labels
from kseg.inference.predictor_base import Predictor

__all__ = ["OnnxPredictor", "onnx_predictor"]


class OnnxPredictor(Predictor):
    """``Predictor`` (``source == "onnx"``) over a kseg ``.onnx`` file.

    Images run one at a time (sizes may differ). Attributes: ``input_size``
    ``(H, W)`` when the file fixes it, else None; ``channels``; ``num_threads``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: onnxruntime is missing, or the file is not a kseg .onnx
            (one uint8 ``images`` input, a ``classes`` output).
    """

    def __init__(self, path, *, num_threads=1, class_names=None):
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"ONNX model {path!r} does not exist.")
        try:
            import onnxruntime
        except ImportError:
            raise ValueError(f"running {path!r} needs onnxruntime: pip install -e \".[onnx]\"") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = num_threads, 1
        options.log_severity_level = 3  # tf2onnx's nearest resizes log a deprecation per node
        try:
            session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for a bad file
            raise ValueError(f"{path!r} is not a loadable .onnx model: {error}") from None
        inputs, outputs = session.get_inputs(), [o.name for o in session.get_outputs()]
        if [i.name for i in inputs] != ["images"] or inputs[0].type != "tensor(uint8)" or "classes" not in outputs:
            raise ValueError(f"{path!r} is not a kseg .onnx (uint8 'images' in, 'classes' out); its inputs: "
                             f"{[(i.name, i.type) for i in inputs]}, outputs: {outputs}. Export it with "
                             "kseg.export.export_onnx.")
        shape = inputs[0].shape
        labels = labels_path_for(path)
        if class_names is None and os.path.isfile(labels):
            class_names = read_labels(labels) or None

        def run(images):
            return np.concatenate([session.run(["classes"], {"images": image[None]})[0] for image in images])

        channels = shape[3] if isinstance(shape[3], int) else None
        super().__init__(path, "onnx", run, len(class_names) if class_names else None, class_names, channels)
        fixed = all(isinstance(d, int) for d in shape[1:3])
        self.input_size = (shape[1], shape[2]) if fixed else None
        self.num_threads = num_threads


def onnx_predictor(path, *, num_threads=1, class_names=None):
    """An ``OnnxPredictor`` for a kseg ``.onnx`` file (labels from ``<stem>.labels.txt`` if present)."""
    return OnnxPredictor(path, num_threads=num_threads, class_names=class_names)
