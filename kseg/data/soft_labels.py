"""Cached soft labels: a teacher's logits per training image, written once, read by the training pipeline.

A cache is a folder holding ``index.json`` and one file per image named by
the image's file stem (``<stem>.tensor``: ``tf.io.serialize_tensor`` of
float16 logits ``[h, w, num_classes]``, usually at half the image's size).
``kseg.training.teacher_cache`` writes it; :func:`soft_label_reader` gives
the tf.data function that reads one image's logits by its path, so the
logits can follow the image through every crop, scale and flip
(``kseg.data.augment_pair``'s ``extra``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import tensorflow as tf

INDEX = "index.json"
SUFFIX = ".tensor"
FORMAT = 1


def cache_file(cache_dir, image_path):
    """Where the logits of ``image_path`` live in ``cache_dir``: keyed by the file stem."""
    return os.path.join(os.fspath(cache_dir), Path(os.fspath(image_path)).stem + SUFFIX)


def check_unique_stems(image_paths, what="data"):
    """Raise naming the first two images that would share a cache file."""
    seen = {}
    for path in image_paths:
        stem = Path(os.fspath(path)).stem
        if stem in seen:
            raise ValueError(f"{what}: images {seen[stem]!r} and {path!r} share the file stem {stem!r}; "
                             "a soft-label cache keys images by stem, so rename one.")
        seen[stem] = path


def read_index(cache_dir):
    """``index.json`` of a cache, checked; raises naming the folder when it is not a cache."""
    cache_dir = os.fspath(cache_dir)
    path = os.path.join(cache_dir, INDEX)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"teacher cache {cache_dir!r} has no {INDEX}: write one with "
                                "python -m pipelines.teacher_cache.")
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"teacher cache {path!r} cannot be read: {error}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT or "num_classes" not in index:
        raise ValueError(f"teacher cache {path!r} is not a kseg soft-label cache (format {FORMAT}).")
    return index


def soft_label_reader(cache_dir, image_paths, num_classes):
    """``image_path -> float32 [h, w, num_classes]`` logits for a tf.data map.

    Checks first that the cache holds the right class count and a file for
    every image; the error lists the missing images and says how to fill them.
    """
    cache_dir = os.fspath(cache_dir)
    index = read_index(cache_dir)
    if int(index["num_classes"]) != int(num_classes):
        raise ValueError(f"teacher cache {cache_dir!r} holds {index['num_classes']} classes; the data has {num_classes}.")
    image_paths = [os.fspath(p) for p in image_paths]
    check_unique_stems(image_paths)
    files = [cache_file(cache_dir, p) for p in image_paths]
    missing = [p for p, f in zip(image_paths, files) if not os.path.isfile(f)]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise FileNotFoundError(f"teacher cache {cache_dir!r} has no logits for {len(missing)} of "
                                f"{len(image_paths)} training images ({shown}); rerun python -m "
                                "pipelines.teacher_cache with the training data to fill it.")
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(image_paths), tf.constant(files)), default_value="")

    def read(image_path):
        logits = tf.io.parse_tensor(tf.io.read_file(table.lookup(image_path)), tf.float16)
        logits.set_shape([None, None, num_classes])
        return tf.cast(logits, tf.float32)

    return read
