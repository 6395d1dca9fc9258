"""CamVid, SegNet split (11 classes, void -> ignore)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kseg._checks import check_ignore_id
from kseg.data.discovery import read_list_file
from kseg.data.folders import from_pairs
from kseg.data.source import SegmentationData

CAMVID_CLASS_NAMES = (
    "sky", "building", "pole", "road", "pavement", "tree",
    "sign_symbol", "fence", "car", "pedestrian", "bicyclist",
)
# Colours of the SegNet tutorial's CamVid label images.
CAMVID_PALETTE = np.array([
    [128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128],
    [60, 40, 222], [128, 128, 0], [192, 128, 128], [64, 64, 128],
    [64, 0, 128], [64, 64, 0], [0, 128, 192],
], np.uint8)
CAMVID_VOID_ID = 11
CAMVID_SPLIT_SIZES = {"train": 367, "val": 101, "test": 233, "trainval": 468}
# Splits made of others: the papers' final protocol (DABNet, CGNet, BiSeNet) trains on train+val.
CAMVID_COMBINED_SPLITS = {"trainval": ("train", "val")}
# Median-frequency weights from SegNet's segnet_basic_train.prototxt.
# Published test-set results on this split (fractions): the SegNet tutorial's SegNet-Basic.
SEGNET_BASIC_REFERENCE = {"pixel_accuracy": 0.828, "mean_accuracy": 0.623, "miou": 0.463}

SEGNET_CLASS_WEIGHTS = np.array([
    0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826,
    9.6446, 1.8418, 0.6823, 6.2478, 7.3614,
], np.float32)


def camvid(root, split: str = "train", *, ignore_id: int = 255, on_error: str = "raise",
           validate: str = "header") -> SegmentationData:
    """CamVid from the SegNet layout (``train.txt`` etc. under ``root``).

    Args:
        root: folder holding ``train/ trainannot/ train.txt`` and the same
            for ``val`` and ``test``.
        split: ``"train"`` (367), ``"val"`` (101), ``"test"`` (233) or
            ``"trainval"`` (468: train then val, the papers' training set
            when test is evaluated once at the end).
        ignore_id: id the void label (11) becomes.

    Returns:
        SegmentationData of ``(uint8 [360, 480, 3], int32 [360, 480])`` with
        ids 0..10 and ``ignore_id``; class names and palette included.
    """
    if split not in CAMVID_SPLIT_SIZES:
        raise ValueError(f"CamVid split must be one of {sorted(CAMVID_SPLIT_SIZES)}; got {split!r}.")
    ignore_id = check_ignore_id(ignore_id)
    root = Path(root)
    pairs, problems = [], []
    for part in CAMVID_COMBINED_SPLITS.get(split, (split,)):
        list_file = root / f"{part}.txt"
        if not list_file.is_file():
            raise FileNotFoundError(
                f"CamVid root {root} has no {part}.txt; expected the SegNet layout "
                "(train/ trainannot/ train.txt, val..., test...).")
        part_pairs, part_problems = read_list_file(list_file, root=root)
        pairs += part_pairs
        problems += part_problems
    label_map = {i: i for i in range(CAMVID_VOID_ID)}
    label_map[CAMVID_VOID_ID] = ignore_id
    return from_pairs(
        pairs, problems, label_map=label_map, ignore_id=ignore_id,
        num_classes=len(CAMVID_CLASS_NAMES), class_names=CAMVID_CLASS_NAMES,
        palette=CAMVID_PALETTE, on_error=on_error, validate=validate,
        name=f"camvid:{root}:{split}")
