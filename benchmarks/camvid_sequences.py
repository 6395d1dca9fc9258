"""mIoU of every shipped CamVid model per video sequence of val and test: how far val predicts test.

CamVid's SegNet split draws its images from four drives: val is all 0016E5, a sequence that also gives
204 of the 367 train images; test is 0001TP (dusk, also in train) and Seq05VD (in no other split).
A model selected on val is therefore selected on a sequence it has seen; this table shows what that
means for each shipped model (the newest version of each in ``benchmarks.camvid_models.SHIPPED``),
scored with the SavedModel over whole splits at full resolution, void ignored.

Run: ``python -m benchmarks.camvid_sequences [--quick] [--no-append]``
(``--quick``: the first 16 images of each split, for a smoke run).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import _common as C  # noqa: E402
from benchmarks.camvid_models import SHIPPED, latest_version  # noqa: E402

CAMVID = C.REPO.parent / "shared" / "data" / "camvid"
SPLITS = ("val", "test")


def sequence_of(image_path):
    """The drive an image comes from: its file name up to the first ``_`` (``Seq05VD_f00060.png``)."""
    return Path(image_path).name.split("_", 1)[0]


def sequence_subsets(data, max_images=None):
    """dict sequence -> ``data`` restricted to that drive's images (of the first ``max_images``), in
    list order: the same decoding on the matching subset of ``data.files``."""
    import dataclasses

    import tensorflow as tf

    groups = defaultdict(list)
    for pair in data.files[:max_images]:
        groups[sequence_of(pair[0])].append(pair)
    subsets = {}
    for name, pairs in sorted(groups.items()):
        paths = tf.data.Dataset.from_tensor_slices(tuple(tf.constant(column) for column in zip(*pairs)))
        subsets[name] = dataclasses.replace(
            data, dataset=paths.map(data.decode_fn, num_parallel_calls=tf.data.AUTOTUNE), files=tuple(pairs),
            num_examples=len(pairs), paths_dataset=paths, name=f"{data.name}:{name}")
    return subsets


def rows_for(version_dir, max_images=None, log=print):
    """Table rows (split, sequence, images, mIoU, pixel accuracy) of one shipped model, split totals included."""
    from kseg.data.camvid import camvid
    from kseg.inference import evaluate, load_predictor
    from kseg.metrics.scores import mean_iou, pixel_accuracy

    predictor = load_predictor(str(version_dir))
    rows = []
    for split in SPLITS:
        reports = {name: evaluate(predictor, subset, num_overlays=0)
                   for name, subset in sequence_subsets(camvid(CAMVID, split), max_images).items()}
        total = sum(np.asarray(report["confusion_matrix"]) for report in reports.values())
        for name, report in reports.items():
            rows.append((split, name, report["num_images"], 100 * report["miou"], 100 * report["pixel_accuracy"]))
        rows.append((split, "all", sum(r["num_images"] for r in reports.values()),
                     100 * mean_iou(total), 100 * pixel_accuracy(total)))
        for row in rows[-len(reports) - 1:]:
            log(f"  {version_dir.parent.name} {split} {row[1]}: {row[3]:.1f} mIoU ({row[2]} images)")
    return rows


def run(quick=False, log=print):
    max_images = 16 if quick else None
    load_before = C.load()
    body, summary = [], {}
    for name in SHIPPED:
        version_dir = latest_version(name)
        if version_dir is None:
            continue
        rows = rows_for(version_dir, max_images, log)
        summary[str(version_dir.relative_to(C.REPO))] = rows
        body += [f"`{version_dir.relative_to(C.REPO)}`:", ""]
        body += C.table(("split", "sequence", "images", "mIoU", "pixel accuracy"),
                        [(s, q, n, f"{m:.1f}", f"{a:.1f}") for s, q, n, m, a in rows])
        body.append("")
    text = C.section("CamVid mIoU by video sequence (val = 0016E5, as 204 train images)", quick=quick,
                     settings=f"SavedModel, full resolution, {'16 images per split' if quick else 'whole splits'}",
                     load_before=load_before, body=body)
    return text, summary


if __name__ == "__main__":
    C.figure_main(run, __doc__, "first 16 images of each split (smoke run)")
