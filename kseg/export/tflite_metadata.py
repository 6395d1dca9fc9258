"""TFLite Metadata in a kseg ``.tflite``: what MediaPipe Tasks and the TFLite Task Library read.

Written with the ``flatbuffers`` package (a TensorFlow dependency) from the
schema ``metadata_schema.fbs`` (``file_identifier "M001"``; MediaPipe ships it
as ``mediapipe/tasks/metadata/metadata_schema.fbs``): tflite-support does not
install beside TF 2.21, and MediaPipe 1.2.3's own ``metadata_writers`` fail to
import. What goes in, as MediaPipe's ``ImageSegmenter`` reads it:

* ``ModelMetadata``: name, description, version, author, and
  ``min_parser_version`` 1.5.0 (custom metadata needs it).
* input ``images``: RGB ``ImageProperties`` with the file's size, stats
  0..255 (uint8 raw pixels: no normalisation process unit, the model
  normalises inside its graph).
* outputs in the subgraph's order: ``classes`` and ``scores``; the last
  one (MediaPipe reads the last output) carries the labels as the
  associated file ``labels.txt`` (``TENSOR_AXIS_LABELS``).
* custom metadata ``SEGMENTER_METADATA`` (``ImageSegmenterOptions``,
  ``file_identifier "V001"``): activation SOFTMAX, so MediaPipe's confidence
  masks are probabilities of the ``scores`` logits.

The metadata flatbuffer is stored in a model buffer named by a
``TFLITE_METADATA`` entry of the model's ``metadata`` list; associated
files are appended to the ``.tflite`` as an uncompressed zip archive (the
file stays a valid flatbuffer; ``zipfile`` reads the labels back).
"""

import io
import os
import zipfile

import flatbuffers
import numpy as np

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
LABELS_FILE = "labels.txt"
SEGMENTER_METADATA_NAME = "SEGMENTER_METADATA"
SEGMENTER_METADATA_IDENTIFIER = b"V001"
# CustomMetadata entered the schema in 1.5.0; the extractor refuses newer files only.
MIN_PARSER_VERSION = "1.5.0"

# Enum values of metadata_schema.fbs / image_segmenter_metadata_schema.fbs.
_ASSOCIATED_TENSOR_AXIS_LABELS = 2
_COLOR_RGB, _COLOR_GRAYSCALE = 1, 2
_CONTENT_FEATURE, _CONTENT_IMAGE = 1, 2
_ACTIVATION_SOFTMAX = 2


class _AlignedBuilder(flatbuffers.Builder):
    """A Builder that puts byte vectors (the model's weight buffers) on 16-byte boundaries.

    The converter aligns every buffer; ``flatbuffers``' own ``CreateNumpyVector``
    aligns bytes to 1, and XNNPACK (MediaPipe's CPU delegate) then fails to
    prepare int8 graphs ("failed to create XNNPACK runtime").
    """

    def CreateNumpyVector(self, x):  # noqa: N802  (flatbuffers' name)
        if x.dtype.itemsize != 1:
            return super().CreateNumpyVector(x)
        data = x.tobytes()
        self.StartVector(1, len(data), 16)
        self.head = self.head - len(data)
        self.Bytes[self.head:self.head + len(data)] = data
        return self.EndVector()


def _pack_model(model):
    """Bytes of a ``ModelT`` (the TFLite schema's object API), buffers 16-byte aligned."""
    builder = _AlignedBuilder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class _Writer:
    """Tables of metadata_schema.fbs, children built before their parents (flatbuffers' order)."""

    def __init__(self):
        self.builder = flatbuffers.Builder(1024)

    def string(self, text):
        return None if text is None else self.builder.CreateString(text)

    def offsets(self, items):
        b = self.builder
        b.StartVector(4, len(items), 4)
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    def floats(self, values):
        b = self.builder
        b.StartVector(4, len(values), 4)
        for value in reversed(values):
            b.PrependFloat32(float(value))
        return b.EndVector()

    def aligned_bytes(self, data, alignment=16):
        b = self.builder
        b.StartVector(1, len(data), alignment)
        for byte in reversed(data):
            b.PrependUint8(byte)
        return b.EndVector()

    def table(self, slots, fields):
        """``fields``: ``(slot, kind, value)`` with kind ``"offset"``, ``"uint8"`` or ``"uint32"``; None values skipped."""
        b = self.builder
        b.StartObject(slots)
        for slot, kind, value in fields:
            if value is None:
                continue
            if kind == "offset":
                b.PrependUOffsetTRelativeSlot(slot, value, 0)
            elif kind == "uint8":
                b.PrependUint8Slot(slot, value, 0)
            else:
                b.PrependUint32Slot(slot, value, 0)
        return b.EndObject()

    # --- tables (slot numbers follow the schema's field order; a union takes two slots) ---
    def associated_file(self, name, description, file_type):
        name, description = self.string(name), self.string(description)
        return self.table(5, [(0, "offset", name), (1, "offset", description), (2, "uint8", file_type)])

    def content(self, properties_type, image_color=None, image_size=None):
        if properties_type == _CONTENT_IMAGE:
            size = None
            if image_size is not None:
                size = self.table(2, [(0, "uint32", image_size[1]), (1, "uint32", image_size[0])])  # width, height
            properties = self.table(2, [(0, "uint8", image_color), (1, "offset", size)])
        else:
            properties = self.table(0, [])
        return self.table(3, [(0, "uint8", properties_type), (1, "offset", properties)])

    def tensor(self, name, description, content=None, stats=None, associated_files=None):
        name, description = self.string(name), self.string(description)
        stats_table = None
        if stats is not None:
            high, low = self.floats([stats[1]]), self.floats([stats[0]])
            stats_table = self.table(2, [(0, "offset", high), (1, "offset", low)])
        files = self.offsets(associated_files) if associated_files else None
        return self.table(7, [(0, "offset", name), (1, "offset", description), (3, "offset", content),
                              (5, "offset", stats_table), (6, "offset", files)])

    def segmenter_options(self):
        """``SEGMENTER_METADATA`` custom metadata: its own flatbuffer (identifier V001) as the data bytes."""
        inner = flatbuffers.Builder(32)
        inner.StartObject(2)
        inner.PrependUint8Slot(0, _ACTIVATION_SOFTMAX, 0)
        inner.Finish(inner.EndObject(), SEGMENTER_METADATA_IDENTIFIER)
        data = self.aligned_bytes(bytes(inner.Output()))
        name = self.string(SEGMENTER_METADATA_NAME)
        return self.table(2, [(0, "offset", name), (1, "offset", data)])

    def finish(self, root):
        self.builder.Finish(root, METADATA_IDENTIFIER)
        return bytes(self.builder.Output())


def segmenter_metadata(*, name, description, version, input_size, outputs):
    """The ``ModelMetadata`` flatbuffer (bytes, identifier M001) of a kseg segmentation ``.tflite``.

    Args:
        name, description, version: of the model.
        input_size: ``(H, W)`` of the uint8 RGB ``images`` input.
        outputs: ``(name, description)`` per subgraph output, in the
            subgraph's order; the last gets the labels (MediaPipe reads it).
    """
    w = _Writer()
    image = w.tensor(
        "images",
        f"RGB image, uint8 [1, {input_size[0]}, {input_size[1]}, 3], raw pixel values 0..255; the model "
        "normalises inside its graph (no mean/std to apply).",
        content=w.content(_CONTENT_IMAGE, _COLOR_RGB, input_size), stats=(0.0, 255.0),
    )
    output_tables = []
    for i, (output_name, output_description) in enumerate(outputs):
        last = i == len(outputs) - 1
        files = [w.associated_file(LABELS_FILE, "Class names, one per line; line i names class id i.",
                                   _ASSOCIATED_TENSOR_AXIS_LABELS)] if last else None
        content = w.content(_CONTENT_IMAGE, _COLOR_GRAYSCALE) if last else w.content(_CONTENT_FEATURE)
        output_tables.append(w.tensor(output_name, output_description, content=content, associated_files=files))
    custom = w.offsets([w.segmenter_options()])
    inputs, outputs_vector = w.offsets([image]), w.offsets(output_tables)
    subgraph = w.table(10, [(2, "offset", inputs), (3, "offset", outputs_vector), (9, "offset", custom)])
    subgraphs = w.offsets([subgraph])
    fields = [w.string(name), w.string(description), w.string(version), w.string("kseg"), w.string(MIN_PARSER_VERSION)]
    model_name, model_description, model_version, author, parser = fields
    root = w.table(8, [(0, "offset", model_name), (1, "offset", model_description), (2, "offset", model_version),
                       (3, "offset", subgraphs), (4, "offset", author), (7, "offset", parser)])
    return w.finish(root)


def signature_output_names(model):
    """Output names of the first signature, in the subgraph's output order (``model``: a flatbuffer ``ModelT``)."""
    signature = model.signatureDefs[0]
    by_index = {m.tensorIndex: m.name.decode() if isinstance(m.name, bytes) else m.name for m in signature.outputs}
    return [by_index[i] for i in model.subgraphs[signature.subgraphIndex].outputs]


def add_segmenter_metadata(content, *, name, description, version, input_size, class_names, output_descriptions):
    """``content`` (a kseg .tflite) with its TFLite metadata and the labels file packed in.

    Args:
        content: the converter's bytes.
        name, description, version, input_size: see ``segmenter_metadata``.
        class_names: packed as ``labels.txt``, one per line.
        output_descriptions: ``{output name: description}`` for every output.

    Returns:
        ``(bytes, output names in subgraph order)``; the metadata flatbuffer
        is the ``TFLITE_METADATA`` buffer (an older one is replaced) and the
        labels an uncompressed zip appended to the flatbuffer.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    order = signature_output_names(model)
    metadata = segmenter_metadata(name=name, description=description, version=version, input_size=input_size,
                                  outputs=[(output, output_descriptions[output]) for output in order])
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (METADATA_NAME, METADATA_NAME.encode())]
    model.metadata.append(entry)
    stream = io.BytesIO(_pack_model(model))
    with zipfile.ZipFile(stream, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(LABELS_FILE, "".join(f"{label}\n" for label in class_names))
    return stream.getvalue(), order


def read_associated_file(path, name=LABELS_FILE):
    """Bytes of an associated file packed in a ``.tflite`` (``labels.txt`` by default).

    Raises:
        ValueError: the file packs no associated files, or none named ``name``.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name)
    except zipfile.BadZipFile:
        raise ValueError(f"{path!r} packs no associated files (no TFLite metadata written by kseg).") from None
    except KeyError:
        raise ValueError(f"{path!r} packs no associated file {name!r}.") from None


def read_tflite_labels(path):
    """Class names packed in a ``.tflite`` by ``export_tflite`` (its metadata's labels file)."""
    return [line for line in read_associated_file(path).decode("utf-8").splitlines() if line.strip()]
