"""Evaluation at full resolution or at a given input size: confusion matrix, scores, report.json, plots."""

import hashlib
import os

import numpy as np

from kseg._io import atomic_write_json
from kseg.inference.visualize import save_confusion_png, save_triptych
from kseg._checks import positive_int
from kseg.metrics import BoundaryIoU, confusion_matrix, report_from_confusion


def _examples(data, input_size, batch_size):
    """Batches ``(images [B, H, W, C], masks [B, H, W])`` of ``data`` as NumPy.

    ``input_size`` None: one image at a time at its own resolution (uint8).
    Else fit's validation view: resized to fit ``input_size`` (aspect kept),
    centre-padded with the data's ignore id, float32 raw pixels.
    """
    if input_size is None:
        for image, mask in data.dataset.as_numpy_iterator():
            yield image[None], mask[None]
        return
    from kseg.data import training_pipeline

    pipeline = training_pipeline(data, input_size=tuple(input_size), batch_size=batch_size, augment=False,
                                 shuffle=False, drop_remainder=False, ignore_id=data.ignore_id)
    yield from pipeline.as_numpy_iterator()


def _as_input(predictor, images):
    """Images the predictor takes: float as is for a Keras model, else rounded to uint8 (an exported file)."""
    if images.dtype == np.uint8 or predictor.accepts_float:
        return images
    return np.clip(np.round(images), 0, 255).astype(np.uint8)


def _evaluated(data, count, max_images, input_size, setup):
    """What a report covers: the data, which images (names and a digest), at what resolution."""
    # File sources list their pairs in the order the dataset yields them.
    files = data.files if data.files and len(data.files) == data.num_examples else ()
    images = [image for image, _ in files[:count]]
    record = {
        "data": data.name or None,
        **(setup or {}),
        "num_images": count,
        "num_images_available": data.num_examples,
        "max_images": max_images,
        "resolution": "native" if input_size is None else list(input_size),
    }
    if images:
        record["images_sha256"] = hashlib.sha256("\n".join(images).encode()).hexdigest()
        record["images"] = images
    return record


def evaluate(predictor, data, *, max_images=None, output_dir=None, num_overlays=3, log_every=0,
             input_size=None, batch_size=8, boundary_width=None, setup=None):
    """Run ``predictor`` over every ``(image, mask)`` of ``data``: confusion matrix and scores.

    Args:
        predictor: a ``kseg.inference.Predictor``.
        data: ``kseg.data.SegmentationData`` (gives class names, palette, ignore id).
        max_images: stop after this many images (None: all).
        output_dir: if set, ``report.json``, ``confusion_matrix.png`` and
            ``overlay_<i>.png`` (image | truth | prediction) are written there.
        num_overlays: how many overlay PNGs to save.
        input_size: None (default): each image at its own resolution. ``(H, W)``:
            at that size, as ``fit``'s validation pass sees the data (resized to
            fit, aspect kept, padded with the ignore id, which is never scored);
            needed for a ``.tflite``, whose size is fixed.
        batch_size: images per predictor call when ``input_size`` is set.
        boundary_width: also score ``boundary_miou``, the mIoU over pixels
            within this many pixels of a true class boundary
            (``kseg.metrics.BoundaryIoU``), summed over the images.
        setup: what else the report should record about the run (model
            path, split, TTA, tiling), merged into ``report["evaluated"]``.

    Returns:
        The report dict: ``miou``, ``per_class_iou``, ``pixel_accuracy``,
        ``mean_accuracy`` (fractions in 0..1), ``confusion_matrix``,
        ``class_names``, ``num_images``, ``evaluated`` (``data``, the
        ``setup`` keys, ``num_images``, ``num_images_available``,
        ``max_images``, ``resolution`` "native" or [H, W], and for file
        sources ``images`` (image paths in order) and ``images_sha256``
        (of those paths joined by newlines)); with ``input_size`` also
        ``input_size``, with ``boundary_width`` also ``boundary_miou`` and
        ``boundary_width``.
    """
    num_classes = data.num_classes
    if predictor.num_classes is not None and predictor.num_classes != num_classes:
        raise ValueError(
            f"The model predicts {predictor.num_classes} classes but the data {data.name or ''!s} has "
            f"{num_classes}: evaluate with the data the model was trained for."
        )
    if input_size is not None:
        input_size = tuple(positive_int(v, "input_size entries", context="evaluate") for v in input_size)
        if len(input_size) != 2:
            raise ValueError(f"evaluate: input_size must be (height, width); got {input_size!r}.")
    batch_size = positive_int(batch_size, "batch_size", context="evaluate")
    boundary = None
    if boundary_width is not None:
        boundary = BoundaryIoU(num_classes, ignore_id=data.ignore_id, width=boundary_width)
    cm = np.zeros((num_classes, num_classes), np.int64)
    overlays = []
    count = 0
    for images, masks in _examples(data, input_size, batch_size):
        if max_images is not None:
            images, masks = images[: max_images - count], masks[: max_images - count]
        predictions = predictor.classes(_as_input(predictor, images))
        if predictions.shape != masks.shape:
            raise ValueError(f"Prediction size {predictions.shape[1:]} differs from mask size {masks.shape[1:]}.")
        cm += confusion_matrix(masks, predictions, num_classes, data.ignore_id)
        if boundary is not None:
            boundary.update(masks, predictions)
        for image, mask, prediction in zip(images, masks, predictions):
            if len(overlays) < num_overlays:
                overlays.append((np.clip(image, 0, 255).astype(np.uint8), mask, prediction))
            count += 1
            if log_every and count % log_every == 0:
                print(f"  evaluated {count} images", flush=True)
        if max_images is not None and count >= max_images:
            break
    if count == 0:
        raise ValueError(f"The evaluation data {data.name or ''!s} yielded no images.")
    report = report_from_confusion(cm, list(data.class_names))
    report["num_images"] = count
    report["evaluated"] = _evaluated(data, count, max_images, input_size, setup)
    if input_size is not None:
        report["input_size"] = list(input_size)
    if boundary is not None:
        report["boundary_miou"], report["boundary_width"] = float(boundary.result()), boundary.width
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
    if "boundary_miou" in report:
        lines.insert(-1, f"{'boundary mIoU':<20} {100 * report['boundary_miou']:6.2f}%  "
                         f"(within {report['boundary_width']} px of a true boundary)")
    if "evaluated" in report:
        lines[-1] = coverage_line(report["evaluated"])
    return "\n".join(lines)


def coverage_line(evaluated):
    """``"images: 20 of 233 (max_images 20), native resolution, TTA 'flip' (2 views)"``."""
    e = evaluated
    of = f" of {e['num_images_available']}" if e.get("num_images_available") not in (None, e["num_images"]) else ""
    limit = f" (max_images {e['max_images']})" if e.get("max_images") is not None else ""
    resolution = "native resolution" if e["resolution"] == "native" else "at {}x{}".format(*e["resolution"])
    parts = [f"images: {e['num_images']}{of}{limit}", resolution]
    if e.get("tta"):
        parts.append(f"TTA {e['tta']!r} ({e.get('tta_views')} views)")
    if e.get("tile"):
        parts.append("tiles {}x{} (overlap {})".format(*e["tile"], e.get("tile_overlap")))
    return ", ".join(parts)
