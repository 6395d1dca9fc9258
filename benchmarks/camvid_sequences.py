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


def confusion_by_sequence(predictor, data, max_images=None, batch_size=8):
    """dict sequence -> (number of images, confusion matrix) of ``predictor`` over ``data``."""
    from kseg.metrics.report import confusion_matrix

    files = data.files[:max_images] if max_images else data.files
    sequences = [sequence_of(image) for image, _ in files]
    totals = defaultdict(lambda: [0, np.zeros((data.num_classes,) * 2, np.int64)])
    index = 0
    for images, masks in data.dataset.take(len(files)).batch(batch_size):
        predicted = predictor.classes(images.numpy())
        for truth, classes in zip(masks.numpy(), predicted):
            entry = totals[sequences[index]]
            entry[0] += 1
            entry[1] += confusion_matrix(truth, classes, data.num_classes, ignore_id=data.ignore_id)
            index += 1
    if index != len(files):
        raise RuntimeError(f"{data.name}: the dataset gave {index} images, its file list {len(files)}.")
    return {name: (count, cm) for name, (count, cm) in sorted(totals.items())}


def rows_for(version_dir, max_images=None, log=print):
    """Table rows (split, sequence, images, mIoU, pixel accuracy) of one shipped model, split totals included."""
    from kseg.data.camvid import camvid
    from kseg.inference import load_predictor
    from kseg.metrics.scores import mean_iou, pixel_accuracy

    predictor = load_predictor(str(version_dir))
    rows = []
    for split in SPLITS:
        by_sequence = confusion_by_sequence(predictor, camvid(CAMVID, split), max_images)
        total = sum(cm for _, cm in by_sequence.values())
        count = sum(n for n, _ in by_sequence.values())
        for name, (n, cm) in list(by_sequence.items()) + [("all", (count, total))]:
            rows.append((split, name, n, 100 * mean_iou(cm), 100 * pixel_accuracy(cm)))
            log(f"  {version_dir.parent.name} {split} {name}: {rows[-1][3]:.1f} mIoU ({n} images)")
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
