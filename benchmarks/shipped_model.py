"""Deployment check of one shipped model version against the Keras model it came from.

Every artefact in the version directory (the SavedModel's ``serving_default``
and each ``.tflite`` file) runs on the first ``--images`` images of a split at
their native size and is compared with the Keras model: class agreement (% of
pixels with the same class), mIoU of the artefact and of Keras against the
ground truth and the drop, file size, and the median batch-1 latency of the
.tflite files with ``--threads`` interpreter threads. Prints a Markdown table
(the "Deployment" table of ``reports/camvid.md``).

    python -m benchmarks.shipped_model --keras runs/camvid_unet_ft/final.keras \\
        --version-dir saved_models/camvid_unet/2 --data camvid:../shared/data/camvid --split test
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks._common import artefact_size_mb  # noqa: E402


def first_images(spec, split, count):
    """uint8 images ``[N, H, W, 3]``, int32 masks ``[N, H, W]`` and the data's ignore id."""
    from kseg import data as kdata

    data = kdata.load(spec, split)
    images, masks = [], []
    for image, mask in data.dataset.take(count):
        images.append(np.asarray(image, np.uint8))
        masks.append(np.asarray(mask, np.int32).reshape(np.shape(image)[:2]))
    if not images:
        raise ValueError(f"{spec} [{split}] holds no images.")
    if len({i.shape for i in images}) != 1:
        raise ValueError(f"{spec} [{split}]: the first {len(images)} images differ in size; pass fewer --images.")
    return np.stack(images), np.stack(masks), data.ignore_id


def rows_for(keras_path, version_dir, images, masks, ignore_id, threads):
    import keras
    import tensorflow as tf

    from kseg.export import parity
    from kseg.serving import signatures as sig

    model = keras.saving.load_model(keras_path, safe_mode=True)
    logits = parity.reference_logits(model, images)
    num_classes = logits.shape[-1]
    keras_miou = parity.mean_iou(logits.argmax(-1), masks, num_classes, ignore_id)
    loaded = tf.saved_model.load(os.fspath(version_dir))
    classes = loaded.signatures[sig.SERVING_DEFAULT](**{sig.IMAGES: tf.constant(images)})[sig.CLASSES].numpy()
    miou = parity.mean_iou(classes, masks, num_classes, ignore_id)
    rows = [dict(file="SavedModel (`serving_default`)", size_mb=artefact_size_mb(version_dir),
                 agreement=parity.class_agreement(logits.argmax(-1), classes), miou=miou,
                 drop=keras_miou - miou, latency_ms=None)]
    for path in sorted(Path(version_dir).glob("*.tflite")):
        report = parity.tflite_parity(model, path, images, num_threads=threads, masks=masks, ignore_id=ignore_id)
        rows.append(dict(file=f"`{path.name}`", size_mb=artefact_size_mb(path),
                         agreement=report["class_agreement_pct"], miou=report["miou_tflite"],
                         drop=report["miou_drop"], latency_ms=report["latency_ms"]))
    return keras_miou, rows


def markdown(keras_miou, rows, *, count, split, threads):
    lines = [f"Keras model on these {count} {split} images: mIoU {100 * keras_miou:.1f}.", "",
             f"| file | size MB | class agreement with Keras | mIoU | mIoU drop | latency ms, {threads} threads |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        latency = "–" if r["latency_ms"] is None else f"{r['latency_ms']:.0f}"
        lines.append(f"| {r['file']} | {r['size_mb']:.1f} | {r['agreement']:.2f}% | {100 * r['miou']:.1f} | "
                     f"{100 * r['drop']:+.2f} | {latency} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shipped_model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keras", required=True, help="the .keras model the version was exported from")
    parser.add_argument("--version-dir", required=True, help="SavedModel version directory (with .tflite files)")
    parser.add_argument("--data", required=True, help="data spec, e.g. camvid:../shared/data/camvid")
    parser.add_argument("--split", default="test")
    parser.add_argument("--images", type=int, default=12, help="first N images of the split (default 12)")
    parser.add_argument("--threads", type=int, default=2, help="TFLite interpreter threads (default 2)")
    args = parser.parse_args(argv)
    if args.images < 1 or args.threads < 1:
        parser.error("--images and --threads must be >= 1.")
    for name, path in (("--keras", args.keras), ("--version-dir", args.version_dir)):
        if not os.path.exists(path):
            parser.error(f"{name} {path!r} does not exist.")
    if not os.path.isfile(os.path.join(args.version_dir, "saved_model.pb")):
        parser.error(f"--version-dir {args.version_dir!r} holds no saved_model.pb.")
    images, masks, ignore_id = first_images(args.data, args.split, args.images)
    keras_miou, rows = rows_for(args.keras, args.version_dir, images, masks, ignore_id, args.threads)
    text = markdown(keras_miou, rows, count=len(images), split=args.split, threads=args.threads)
    print(text)
    return text


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
