"""What ``kseg.export.export_tflite(quantize="int8", ...)`` asks of ``kseg.quantization``.

``Int8Plan`` turns the exporter's converter factory into the file's bytes:
plain ``convert()`` when nothing is asked; one calibration through
``SelectiveQuantizer`` when layers stay float (named, or ``"auto"``) or a
debug report is wanted. ``record`` says what was done; ``embed_record`` stores
it in the .tflite's metadata (``kseg_quantization``, JSON) and
``read_record`` reads it back.
"""

import json

import numpy as np

from kseg.quantization.debugger import interpreter_for, write_report
from kseg.quantization.selective import AUTO_TARGET_AGREEMENT, SelectiveQuantizer, check_keep_float, float_layers_of

METADATA_NAME = "kseg_quantization"
# "auto" holds back this share of the calibration images (at least 2, at most 16) to measure agreement on.
HELD_BACK_SHARE = 0.25
MAX_HELD_BACK = 16


def split_held_back(images, keep_float):
    """``(calibration, held_back)``: the last images are held back only for ``keep_float="auto"``."""
    if keep_float != "auto":
        return images, []
    count = min(MAX_HELD_BACK, max(2, int(len(images) * HELD_BACK_SHARE)))
    if len(images) - count < 1:
        raise ValueError(f"keep_float='auto' needs at least {count + 1} calibration images (it holds {count} back "
                         f"to measure class agreement); got {len(images)}.")
    return images[:-count], images[-count:]


def classes_of(content, images):
    """int32 classes ``[N, H, W]`` of a kseg .tflite (bytes) for uint8 ``[1, H, W, C]`` images."""
    runner = interpreter_for(content).get_signature_runner("serving_default")
    return np.concatenate([runner(images=image)["classes"] for image in images])


class Int8Plan:
    """How one int8 file is made; call it with the exporter's converter factory.

    Args:
        layer_names: the Keras model's layer names.
        keep_float: None, a list of layer names (or ``"a,b"``), or ``"auto"``.
        debug_stem: write ``<debug_stem>.quant_debug.json/.md`` (the ranking); None: no report.
        held_back: uint8 ``[1,H,W,C]`` images for ``"auto"``'s agreement.
        reference_classes: the Keras model's classes on ``held_back``.
        target: agreement (0..1) that ``"auto"`` stops at.
        debug_images: images the debug ranking is measured on (default: held back, else none given).
    """

    def __init__(self, layer_names, *, keep_float=None, debug_stem=None, held_back=(), reference_classes=None,
                 target=AUTO_TARGET_AGREEMENT, debug_images=()):
        self.layer_names = list(layer_names)
        self.keep_float = keep_float if keep_float in (None, "auto") else check_keep_float(keep_float,
                                                                                             self.layer_names)
        self.debug_stem = debug_stem
        self.held_back = list(held_back)
        self.reference_classes = reference_classes
        self.target = target
        self.debug_images = list(debug_images) or self.held_back
        self.record = {}

    @property
    def needs_debugger(self):
        return bool(self.keep_float) or self.debug_stem is not None

    def __call__(self, converter_factory, calibration):
        """Bytes of the int8 file; fills ``record``."""
        if not self.needs_debugger:
            return converter_factory().convert()
        quantizer = SelectiveQuantizer(converter_factory, self.layer_names,
                                       debug_images=self.debug_images or calibration[:8])
        if self.debug_stem is not None:
            self.record["debug_report"] = list(write_report(quantizer.ranking(), self.debug_stem))
        if self.keep_float == "auto":
            def agreement_of(content):
                return float(np.mean(classes_of(content, self.held_back) == self.reference_classes))

            content, kept, agreement, tried = quantizer.auto(agreement_of, target=self.target)
            self.record.update(auto={"target": self.target, "agreement": agreement, "tried": tried,
                                     "held_back_images": len(self.held_back)})
        else:
            content = quantizer.convert(self.keep_float or ())
        self.record["float_layers"] = float_layers_of(content, self.layer_names)
        return content


def embed_record(content, record):
    """``content`` (.tflite bytes) with ``record`` as JSON metadata named ``kseg_quantization``."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(record, sort_keys=True).encode("utf-8"), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (METADATA_NAME, METADATA_NAME.encode())]
    model.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read_record(model):
    """The ``kseg_quantization`` record of a .tflite (path or bytes), or None."""
    from tensorflow.lite.tools import flatbuffer_utils

    if not isinstance(model, (bytes, bytearray)):
        with open(model, "rb") as handle:
            model = handle.read()
    parsed = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    for entry in parsed.metadata or []:
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        if name == METADATA_NAME:
            return json.loads(bytes(parsed.buffers[entry.buffer].data).decode("utf-8"))
    return None
