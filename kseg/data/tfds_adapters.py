"""Adapters from TensorFlow Datasets builders to kseg ``(image, mask)`` pairs."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from kseg.data.mask_codec import MaskCodec
from kseg.data.mask_decode import check_same_size, map_and_check
from kseg._checks import check_ignore_id
from kseg.data.source import SegmentationData, default_palette

# ADE20K SceneParsing class names for ids 1..150 (objectInfo150), which the
# adapter shifts to 0..149.
ADE20K_CLASS_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain",
    "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug",
    "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub",
    "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter",
    "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs",
    "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier", "awning",
    "streetlight", "booth", "television receiver", "airplane", "dirt track", "apparel", "pole",
    "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van",
    "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool",
    "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball",
    "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
    "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light",
    "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower",
    "radiator", "glass", "clock", "flag",
)

# Cityscapes label id -> train id for the 19 evaluated classes.
CITYSCAPES_TRAIN_IDS = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
    24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}
CITYSCAPES_CLASS_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)
CITYSCAPES_PALETTE = np.array([
    [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153],
    [153, 153, 153], [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152],
    [70, 130, 180], [220, 20, 60], [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100],
    [0, 80, 100], [0, 0, 230], [119, 11, 32],
], np.uint8)


@dataclasses.dataclass(frozen=True)
class _Adapter:
    builder: str
    image_key: str
    mask_key: str
    class_names: tuple
    palette: np.ndarray
    label_map: Callable[[int], dict]  # ignore_id -> {raw: id}


def _pet_adapter(border):
    names = ("background", "pet") + (("border",) if border == "class" else ())
    palette = np.array([[0, 0, 0], [200, 120, 40], [255, 255, 255]][: len(names)], np.uint8)

    def label_map(ignore_id):
        # Trimap: 1 = pet, 2 = background, 3 = border.
        return {1: 1, 2: 0, 3: 2 if border == "class" else ignore_id}

    return _Adapter("oxford_iiit_pet", "image", "segmentation_mask", names, palette, label_map)


def _ade_adapter():
    def label_map(ignore_id):
        return {0: ignore_id, **{i: i - 1 for i in range(1, 151)}}

    return _Adapter("scene_parse150", "image", "annotation", ADE20K_CLASS_NAMES,
                    default_palette(151)[1:], label_map)


def _cityscapes_adapter():
    def label_map(ignore_id):
        return {i: CITYSCAPES_TRAIN_IDS.get(i, ignore_id) for i in range(256)}

    return _Adapter("cityscapes/semantic_segmentation", "image_left", "segmentation_label",
                    CITYSCAPES_CLASS_NAMES, CITYSCAPES_PALETTE, label_map)


TFDS_NAMES = ("oxford_iiit_pet", "scene_parse150", "cityscapes")


def tfds_dataset(name: str, split: str = "train", *, data_dir: Optional[str] = None,
                 ignore_id: int = 255, border: str = "ignore", download: bool = False,
                 shuffle_files: bool = False) -> SegmentationData:
    """A TFDS segmentation dataset as kseg ``(image, mask)`` pairs.

    Args:
        name: ``"oxford_iiit_pet"`` (background 0, pet 1; the trimap border is
            ``ignore_id`` or, with ``border="class"``, class 2),
            ``"scene_parse150"`` (ADE20K: ids 1..150 -> 0..149, 0 -> ignore) or
            ``"cityscapes"`` (34 label ids -> 19 train ids, others ignore;
            needs the manual download prepared in ``data_dir``).
        split: a TFDS split string (``"train"``, ``"test[:10%]"``, ...).
        data_dir: TFDS data folder.
        download: call ``download_and_prepare`` first (needs internet).

    Returns:
        SegmentationData of ``(uint8 [H, W, 3], int32 [H, W])``.
    """
    import tensorflow_datasets as tfds

    if name not in TFDS_NAMES:
        raise ValueError(f"Unknown TFDS segmentation dataset {name!r}; supported: {', '.join(TFDS_NAMES)}.")
    if border not in ("ignore", "class"):
        raise ValueError(f"border must be 'ignore' or 'class'; got {border!r}.")
    ignore_id = check_ignore_id(ignore_id)
    adapter = {"oxford_iiit_pet": lambda: _pet_adapter(border), "scene_parse150": _ade_adapter,
               "cityscapes": _cityscapes_adapter}[name]()
    num_classes = len(adapter.class_names)
    try:
        ds, info = tfds.load(adapter.builder, split=split, data_dir=data_dir, download=download,
                             shuffle_files=shuffle_files, with_info=True)
    except (AssertionError, FileNotFoundError, tfds.core.registered.DatasetNotFoundError) as e:
        raise FileNotFoundError(
            f"TFDS dataset {adapter.builder!r} split {split!r} is not prepared in "
            f"{data_dir or 'the default TFDS data_dir'} ({e}). Prepare it with "
            "download=True on a machine with internet (cityscapes needs its manual download)."
        ) from None
    try:
        num_examples = int(info.splits[split].num_examples) or None
    except Exception:  # Split arithmetic TFDS cannot size; unknown is honest.
        num_examples = None

    codec = MaskCodec("index", label_map=adapter.label_map(ignore_id))
    source = f"tfds:{name}:{split}"

    def convert(example):
        image = example[adapter.image_key]
        # Masks are stored [H, W, 1] or, for scene_parse150, as 3 equal
        # channels: the class id is channel 0.
        raw = example[adapter.mask_key][..., 0]
        mask = map_and_check(raw, codec, num_classes=num_classes, ignore_id=ignore_id, source=source)
        mask = check_same_size(image, mask, f"{source} image", f"{source} mask")
        return tf.ensure_shape(image, [None, None, 3]), mask

    return SegmentationData(
        dataset=ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE),
        num_classes=num_classes, class_names=adapter.class_names, palette=adapter.palette,
        ignore_id=ignore_id, num_examples=num_examples, name=source)
