"""Full-resolution evaluation: confusion matrix, report.json, plots."""

import os

import numpy as np

from kseg._io import atomic_write_json
from kseg.inference.visualize import save_confusion_png, save_triptych
from kseg.metrics import confusion_matrix, report_from_confusion


def evaluate(predictor, data, *, max_images=None, output_dir=None, num_overlays=3, log_every=0):
    """Run ``predictor`` over every ``(image, mask)`` of ``data`` at its own resolution.

    Args:
        predictor: a ``kseg.inference.Predictor``.
        data: ``kseg.data.SegmentationData`` (gives class names, palette, ignore id).
        max_images: stop after this many images (None: all).
        output_dir: if set, ``report.json``, ``confusion_matrix.png`` and
            ``overlay_<i>.png`` (image | truth | prediction) are written there.
        num_overlays: how many overlay PNGs to save.

    Returns:
        The report dict: ``miou``, ``per_class_iou``, ``pixel_accuracy``,
        ``mean_accuracy`` (fractions in 0..1), ``confusion_matrix``,
        ``class_names``, ``num_images``.
    """
    num_classes = data.num_classes
    if predictor.num_classes is not None and predictor.num_classes != num_classes:
        raise ValueError(
            f"The model predicts {predictor.num_classes} classes but the data {data.name or ''!s} has "
            f"{num_classes}: evaluate with the data the model was trained for."
        )
    cm = np.zeros((num_classes, num_classes), np.int64)
    overlays = []
    count = 0
    for image, mask in data.dataset.as_numpy_iterator():
        prediction = predictor.classes(image)[0]
        if prediction.shape != mask.shape:
            raise ValueError(f"Prediction size {prediction.shape} differs from mask size {mask.shape}.")
        cm += confusion_matrix(mask, prediction, num_classes, data.ignore_id)
        if len(overlays) < num_overlays:
            overlays.append((image, mask, prediction))
        count += 1
        if log_every and count % log_every == 0:
            print(f"  evaluated {count} images", flush=True)
        if max_images is not None and count >= max_images:
            break
    if count == 0:
        raise ValueError(f"The evaluation data {data.name or ''!s} yielded no images.")
    report = report_from_confusion(cm, list(data.class_names))
    report["num_images"] = count
    if output_dir is not None:
        write_report(report, output_dir)
        for i, (image, mask, prediction) in enumerate(overlays):
            save_triptych(os.path.join(output_dir, f"overlay_{i}.png"), image, mask, prediction,
                          data.palette, data.ignore_id)
    return report


def write_report(report, output_dir):
    """``report.json`` (atomically) and ``confusion_matrix.png`` in ``output_dir``."""
    os.makedirs(output_dir, exist_ok=True)
    atomic_write_json(os.path.join(output_dir, "report.json"), report)
    save_confusion_png(os.path.join(output_dir, "confusion_matrix.png"), report["confusion_matrix"],
                       report["class_names"])


def format_table(report):
    """Per-class IoU table plus the summary lines, as printable text."""
    lines = [f"{'class':<20} {'IoU':>7}"]
    for name, iou in report["per_class_iou"].items():
        lines.append(f"{name:<20} {'absent' if iou is None else f'{100 * iou:6.2f}%':>7}")
    lines += [
        f"{'mIoU':<20} {100 * report['miou']:6.2f}%",
        f"{'pixel accuracy':<20} {100 * report['pixel_accuracy']:6.2f}%",
        f"{'mean accuracy':<20} {100 * report['mean_accuracy']:6.2f}%",
        f"images: {report['num_images']}",
    ]
    return "\n".join(lines)
