"""tf.data sources, mask-safe augmentation and training pipelines.

Sources return :class:`SegmentationData` whose ``.dataset`` yields
``(image uint8 [H, W, C], mask int32 [H, W])`` with ignore id 255 by default.
Training pipelines yield ``(float32 [B, H, W, C] raw 0..255, int32 [B, H, W])``.
"""

from kseg.data.augment import (
    AugmentConfig,
    augment_pair,
    colour_jitter,
    fit_pair,
    hflip_pair,
    pad_pair,
    random_crop_pair,
    resize_pair,
    rotate_pair,
)
from kseg.data.camvid import (
    CAMVID_CLASS_NAMES,
    CAMVID_PALETTE,
    CAMVID_SPLIT_SIZES,
    SEGNET_BASIC_REFERENCE,
    SEGNET_CLASS_WEIGHTS,
    camvid,
)
from kseg.data.class_weights import class_counts, class_weights
from kseg.data.folders import DataError, from_folders, from_list_file, from_pairs
from kseg.data.pipeline import eval_pipeline, preprocess_fn, training_pipeline
from kseg.data.source import SegmentationData, default_palette
from kseg.data.spec import SPEC_FORMS, load, parse_label_map, source_options
from kseg.data.synthetic import SYNTHETIC_CLASS_NAMES, synthetic
from kseg.data.tfds_adapters import TFDS_NAMES, tfds_dataset

__all__ = [
    "AugmentConfig", "CAMVID_CLASS_NAMES", "CAMVID_PALETTE", "CAMVID_SPLIT_SIZES", "DataError",
    "SEGNET_BASIC_REFERENCE", "SEGNET_CLASS_WEIGHTS", "SPEC_FORMS", "SYNTHETIC_CLASS_NAMES", "SegmentationData",
    "TFDS_NAMES", "augment_pair", "camvid", "class_counts", "class_weights", "colour_jitter",
    "default_palette", "eval_pipeline", "fit_pair", "from_folders", "from_list_file",
    "from_pairs", "hflip_pair", "load", "pad_pair", "parse_label_map", "preprocess_fn",
    "random_crop_pair", "resize_pair", "rotate_pair", "source_options", "synthetic", "tfds_dataset",
    "training_pipeline",
]
