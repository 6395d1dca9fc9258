"""A validation hold-out for file-based sources that have no validation split of their own.

The hold-out is chosen by a stable hash of each image's file stem (SHA-1, not
Python's salted ``hash()``), so the same files are held out on every machine
and every rerun, whatever order the folder lists them in.
"""

from __future__ import annotations

import hashlib
import os

import tensorflow as tf

from kseg.data.source import SegmentationData


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def _rank(path):
    stem = _stem(path)
    return hashlib.sha1(stem.encode("utf-8")).hexdigest(), stem, path


def holdout_count(total, fraction):
    """How many of ``total`` images a ``fraction`` holds out: ``round(fraction * total)``,
    at least one, and at least one left to train on."""
    fraction = float(fraction)
    if not 0 < fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1) for a hold-out; got {fraction!r}.")
    if total < 2:
        raise ValueError(f"cannot hold out validation images from {total} image(s): "
                         "pass separate validation data (--val-data).")
    return min(total - 1, max(1, int(round(fraction * total))))


def holdout_images(image_paths, fraction):
    """The image paths held out for validation: the ``holdout_count`` ones whose
    stems hash lowest. Returns a set of paths."""
    paths = list(image_paths)
    k = holdout_count(len(paths), fraction)
    return {path for _, _, path in sorted(map(_rank, paths))[:k]}


def subset(data: SegmentationData, files, name) -> SegmentationData:
    """``data`` restricted to the ``(image, mask)`` pairs in ``files`` (same classes,
    palette and decoding)."""
    if data.paths_dataset is None or data.decode_fn is None:
        raise ValueError(f"{data.name or 'source'} is not file based; it cannot be split.")
    files = tuple(files)
    paths = tf.data.Dataset.from_tensor_slices(
        (tf.constant([p[0] for p in files]), tf.constant([p[1] for p in files])))
    return SegmentationData(
        dataset=paths.map(data.decode_fn, num_parallel_calls=tf.data.AUTOTUNE),
        num_classes=data.num_classes, class_names=data.class_names, palette=data.palette,
        ignore_id=data.ignore_id, num_examples=len(files), skipped=data.skipped, files=files,
        name=name, paths_dataset=paths, decode_fn=data.decode_fn)


def split_holdout(data: SegmentationData, fraction):
    """``(train, val)``: ``data`` split into the images it trains on and a held-out
    validation set chosen by ``holdout_images``. The two share no file."""
    held = holdout_images([p[0] for p in data.files], fraction)
    train = [p for p in data.files if p[0] not in held]
    val = [p for p in data.files if p[0] in held]
    return (subset(data, train, f"{data.name} (training part)"),
            subset(data, val, f"{data.name} (held out, val_fraction {fraction})"))


def shared_files(train: SegmentationData, val: SegmentationData):
    """Image files that ``val`` shares with ``train`` (compared by real path), sorted."""
    seen = {os.path.realpath(p[0]) for p in train.files}
    return sorted(p[0] for p in val.files if os.path.realpath(p[0]) in seen)
