"""Write a teacher's logits for every training image once, so distillation costs no teacher pass per step.

The online ``--teacher`` runs the teacher on every batch: a 17-view TTA
teacher costs about 9 training steps' worth per step. A cache holds the
same soft labels at a one-time cost (one teacher run per image); the
training pipeline reads them beside each image and crops, scales and flips
them with it (``kseg.data.soft_labels``). Resumable: images whose file
exists are skipped, files are written atomically, and an image that cannot
be read is reported and skipped.
"""

from __future__ import annotations

import os
import time

import tensorflow as tf

from kseg._checks import check_number
from kseg._io import atomic_write_bytes, atomic_write_json, check_writable_dir
from kseg.data.soft_labels import FORMAT, INDEX, cache_file, check_unique_stems, read_index
from kseg.models.presets import sha256_of
from kseg.training.distillation import load_teacher

# index.json keys that must match for a rerun to add to an existing cache.
_IDENTITY = ("teacher_sha256", "tta", "scale", "num_classes")
# What one run of write_teacher_cache did (index.json's top level: the latest run; "runs": all of them).
_RUN = ("written", "present", "skipped", "seconds")


def write_teacher_cache(teacher, data, output, *, tta=None, scale=0.5, log_every=50):
    """Run ``teacher`` (a ``.keras`` file, with TTA spec ``tta``) on every image of ``data``; store its logits.

    Args:
        teacher: path of a ``.keras`` model (``kseg.training.distillation.load_teacher``).
        data: a file-based ``SegmentationData`` (its ``files`` name the images).
        output: cache folder; created, or added to when it holds a cache of
            the same teacher, TTA and scale.
        tta: None or a ``--tta`` spec such as ``"flip,1,2.75"``.
        scale: size of the stored logits relative to the image, in (0, 1]
            (0.5: a quarter of the bytes; the pipeline resamples them with
            the crop anyway).

    Returns:
        the index written to ``output/index.json``: this run's ``written``,
        ``present``, ``skipped`` (``[path, reason]`` pairs) and ``seconds``,
        and ``runs``, every run's four values in order (the cost of the cache
        is the sum of their ``seconds``; a rerun that finds every file
        present adds a run that wrote nothing).
    """
    scale = check_number("scale", scale, inclusive=False)
    if scale > 1:
        raise ValueError(f"scale must be in (0, 1]; got {scale!r}.")
    files = getattr(data, "files", ())
    if not files or getattr(data, "decode_fn", None) is None:
        raise ValueError("a teacher cache needs file-based data (folder:, list:, camvid:); "
                         f"{getattr(data, 'name', '') or type(data).__name__} names no files.")
    check_unique_stems([f[0] for f in files], getattr(data, "name", "") or "data")
    output = check_writable_dir(output, "teacher cache")
    model = load_teacher(teacher, tta=tta)
    if model.output_shape[-1] != data.num_classes:
        raise ValueError(f"teacher {os.fspath(teacher)!r} predicts {model.output_shape[-1]} classes; "
                         f"the data has {data.num_classes}.")
    index = {"format": FORMAT, "teacher": os.fspath(teacher), "teacher_sha256": sha256_of(teacher), "tta": tta,
             "scale": scale, "num_classes": int(data.num_classes), "class_names": list(data.class_names),
             "dtype": "float16", "data": getattr(data, "name", "")}
    runs = []
    if os.path.isfile(os.path.join(output, INDEX)):
        old = read_index(output)
        runs = list(old.get("runs") or ([{k: old[k] for k in _RUN if k in old}] if "seconds" in old else []))
        differ = [k for k in _IDENTITY if old.get(k) != index[k]]
        if differ:
            raise ValueError(f"teacher cache {output!r} was written with another {', '.join(differ)}; "
                             "give a new --output folder.")
    atomic_write_json(os.path.join(output, INDEX), {**index, "runs": runs})

    @tf.function(reduce_retracing=True)
    def logits_of(image):
        logits = model(tf.cast(image, tf.float32)[None], training=False)[0]
        size = tf.maximum(tf.cast(tf.round(tf.cast(tf.shape(image)[:2], tf.float32) * scale), tf.int32), 1)
        return tf.cast(tf.image.resize(logits, size, method="area"), tf.float16)

    start, written, present, skipped = time.time(), 0, 0, []
    for i, (image_path, mask_path) in enumerate(files, 1):
        target = cache_file(output, image_path)
        if os.path.isfile(target):
            present += 1
            continue
        try:
            image, _ = data.decode_fn(tf.constant(image_path), tf.constant(mask_path))
            atomic_write_bytes(target, tf.io.serialize_tensor(logits_of(image)).numpy())
            written += 1
        except (tf.errors.OpError, OSError) as error:
            reason = (getattr(error, "message", None) or str(error)).splitlines()[0]
            print(f"skipped {image_path}: {reason}")
            skipped.append([image_path, reason])
        if log_every and (written + len(skipped)) % log_every == 0 and written:
            elapsed = time.time() - start
            print(f"{i}/{len(files)} images, {elapsed / written:.2f} s an image", flush=True)
    index.update(written=written, present=present, skipped=skipped, seconds=round(time.time() - start, 1))
    index["runs"] = runs + [{k: index[k] for k in _RUN}]
    atomic_write_json(os.path.join(output, INDEX), index)
    return index
