"""kseg .tflite files in MediaPipe's ImageSegmenter (what Android, iOS and web apps run), and their TFLite metadata."""

from pathlib import Path

import keras
import numpy as np
import pytest

import kseg.models
import toy_models
from kseg import export
from kseg.export import tflite_metadata
from kseg.export.tflite_runtime import TFLiteRunner
from kseg.models.small import SMALL_CONFIGS

REPO = Path(__file__).resolve().parents[2]
# Every .tflite file of every shipped preset's latest version, read off the tree (no version to update).
SHIPPED = sorted((str(path.parent.relative_to(REPO / "saved_models")), path.name)
                 for name in kseg.models.list_presets()
                 for path in Path(kseg.models.preset_info(name)["saved_model"]).glob("*.tflite"))
NAMES = ["sky", "road", "car", "tree"]


def _mediapipe_classes(path, images):
    """MediaPipe ImageSegmenter's category masks (uint8 [N, H, W]) for uint8 RGB images [N, H, W, 3]."""
    mp = pytest.importorskip("mediapipe")
    from mediapipe.tasks import python as mp_tasks
    from mediapipe.tasks.python import vision

    options = vision.ImageSegmenterOptions(base_options=mp_tasks.BaseOptions(model_asset_path=str(path)),
                                           output_category_mask=True)
    with vision.ImageSegmenter.create_from_options(options) as segmenter:
        masks = [segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
                 .category_mask.numpy_view().copy() for image in images]
        labels = segmenter.labels
    return np.stack(masks).reshape(images.shape[:3]), labels


@pytest.fixture(scope="module")
def zoo_files(tmp_path_factory):
    """(images, {quantize: path}) of a small U-Net exported fp32 and int8 at 48x64."""
    keras.utils.set_random_seed(0)
    model = kseg.models.build("unet", num_classes=len(NAMES), input_shape=(None, None, 3), **SMALL_CONFIGS["unet"])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    folder = tmp_path_factory.mktemp("mediapipe")
    paths = {quantize: export.export_tflite(model, folder / f"unet_{quantize}.tflite", input_size=(48, 64),
                                            quantize=quantize, class_names=NAMES,
                                            representative_data=rng.integers(0, 256, (8, 48, 64, 3), dtype=np.uint8))
             for quantize in ("none", "int8")}
    return images, paths


@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_mediapipe_category_mask_is_kseg_classes_on_a_fresh_zoo_export(zoo_files, quantize):
    images, paths = zoo_files
    masks, labels = _mediapipe_classes(paths[quantize], images)
    classes = TFLiteRunner(paths[quantize]).outputs(images)["classes"]
    assert len(np.unique(classes)) > 1  # not a constant map that any reading would match
    assert export.class_agreement(classes, masks) == 100.0
    assert labels == NAMES  # from the file's own metadata


def test_metadata_reads_back(zoo_files):
    schema = pytest.importorskip("mediapipe.tasks.metadata.metadata_schema_py_generated")
    segmenter_schema = pytest.importorskip("mediapipe.tasks.metadata.image_segmenter_metadata_schema_py_generated")
    from tensorflow.lite.tools import flatbuffer_utils

    path = zoo_files[1]["int8"]
    content = Path(path).read_bytes()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    entries = [m for m in model.metadata if m.name in (b"TFLITE_METADATA", "TFLITE_METADATA")]
    assert len(entries) == 1
    buffer = bytes(model.buffers[entries[0].buffer].data)
    assert schema.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0)
    metadata = schema.ModelMetadataT.InitFromPackedBuf(buffer, 0)
    assert metadata.name == b"unet" and metadata.author == b"kseg" and metadata.minParserVersion == b"1.5.0"
    subgraph = metadata.subgraphMetadata[0]
    (image,) = subgraph.inputTensorMetadata
    assert image.name == b"images" and b"uint8 [1, 48, 64, 3], raw pixel values 0..255" in image.description
    assert image.content.contentPropertiesType == schema.ContentProperties.ImageProperties
    assert image.content.contentProperties.colorSpace == schema.ColorSpaceType.RGB
    size = image.content.contentProperties.defaultSize
    assert (size.width, size.height) == (64, 48)
    assert (list(image.stats.min), list(image.stats.max)) == ([0.0], [255.0])
    assert [t.name for t in subgraph.outputTensorMetadata] == [b"classes", b"scores"]
    (labels,) = subgraph.outputTensorMetadata[-1].associatedFiles
    assert labels.name == b"labels.txt" and labels.type == schema.AssociatedFileType.TENSOR_AXIS_LABELS
    (custom,) = subgraph.customMetadata
    options = segmenter_schema.ImageSegmenterOptions.GetRootAs(bytes(custom.data), 0)
    assert custom.name == b"SEGMENTER_METADATA" and options.Activation() == segmenter_schema.Activation.SOFTMAX
    assert tflite_metadata.read_tflite_labels(path) == NAMES
    # The file is still a plain .tflite for every runtime.
    assert TFLiteRunner(path).outputs(zoo_files[0][:1])["classes"].shape == (1, 48, 64)


def test_metadata_of_a_classes_only_file_and_labels_errors(tmp_path):
    model = toy_models.encoder_decoder(input_shape=(16, 16, 3))
    path = export.export_tflite(model, tmp_path / "c.tflite", include_scores=False, class_names=["a", "b", "c"])
    assert tflite_metadata.read_tflite_labels(path) == ["a", "b", "c"]
    assert set(TFLiteRunner(path).outputs(np.zeros((1, 16, 16, 3), np.uint8))) == {"classes"}
    plain = tmp_path / "plain.tflite"
    plain.write_bytes(b"TFL3 not a zip")
    with pytest.raises(ValueError, match="plain.tflite' packs no associated files"):
        tflite_metadata.read_tflite_labels(plain)


@pytest.mark.parametrize("version, name", SHIPPED, ids=[f"{v}/{n}" for v, n in SHIPPED])
def test_mediapipe_reads_the_shipped_files_right(version, name, camvid_root):
    from kseg.data.camvid import CAMVID_CLASS_NAMES, camvid

    path = REPO / "saved_models" / version / name
    images = np.stack([np.asarray(image) for image, _ in camvid(camvid_root, "test").dataset.take(2)])
    masks, labels = _mediapipe_classes(path, images)
    classes = TFLiteRunner(path).outputs(images)["classes"]
    assert export.class_agreement(classes, masks) >= 99.0
    assert labels == list(CAMVID_CLASS_NAMES)
