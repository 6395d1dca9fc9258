"""A Markdown evaluation report with its figures (per-class IoU, curves, overlays)."""

import csv
import os

from kseg._io import atomic_write_text
from kseg.inference.evaluate import coverage_line, write_report


def save_training_curves(csv_path, png_path, val_label="val"):
    """Plot loss and mIoU per epoch from a ``training_log.csv``; returns the epoch count.

    ``val_label`` names the ``val_*`` curves in the legend. A run that trains on its val images
    (train+val) passes what they measure there, e.g. ``"fit monitor (val images, trained on)"``,
    so that the figure never shows a score on training images as validation.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"Training log {csv_path!r} has no epochs.")
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, (ax_loss, ax_iou) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, ax in (("loss", ax_loss), ("val_loss", ax_loss), ("miou", ax_iou), ("val_miou", ax_iou)):
        if key in rows[0]:
            label = f"{key[4:]}, {val_label}" if key.startswith("val_") and val_label != "val" else key
            ax.plot(epochs, [float(r[key]) for r in rows], label=label)
    ax_loss.set_xlabel("epoch")
    ax_iou.set_xlabel("epoch")
    ax_loss.legend()
    ax_iou.legend()
    ax_iou.set_ylim(0, 1)
    losses = [float(r[k]) for r in rows for k in ("loss", "val_loss") if r.get(k)]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 20:
        ax_loss.set_yscale("log")  # an early spike would flatten the rest of the curve
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return len(rows)


def _pct(value):
    return "–" if value is None else f"{100 * value:.1f}"


def write_markdown_report(path, report, *, title, reference=None, reference_name="reference",
                          training_log=None, details=(), figures_dir=None, overlays=()):
    """Write ``path`` (Markdown) for an evaluation ``report`` (``kseg.inference.evaluate``).

    Args:
        reference: optional dict with ``pixel_accuracy``, ``mean_accuracy``,
            ``miou`` (fractions) shown beside ours.
        training_log: a ``training_log.csv``; its curves become a PNG.
        details: ``(label, text)`` rows (model, data, hardware, time...).
        figures_dir: where PNGs go (default: beside ``path``, in ``<stem>_figures``).
        overlays: paths of overlay PNGs to link.
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    figures_dir = figures_dir or os.path.join(os.path.dirname(path) or ".", f"{stem}_figures")
    os.makedirs(figures_dir, exist_ok=True)
    write_report(report, figures_dir)  # report.json + confusion_matrix.png beside the figures
    rel = lambda p: os.path.relpath(p, os.path.dirname(os.path.abspath(path)))  # noqa: E731
    lines = [f"# {title}", ""]
    lines += [f"- **{label}**: {text}" for label, text in details]
    lines += ["", "## Summary", "", f"| metric | ours | {reference_name} |", "|---|---|---|"]
    for key, label in (("pixel_accuracy", "global accuracy"), ("mean_accuracy", "class-average accuracy"),
                       ("miou", "mIoU")):
        ref = _pct(reference.get(key)) if reference else "–"
        lines.append(f"| {label} | **{_pct(report[key])}** | {ref} |")
    coverage = (coverage_line(report["evaluated"]) if "evaluated" in report
                else f"{report['num_images']} images, evaluated at full resolution")
    lines += ["", f"{coverage}.", "",
              "## Per-class IoU", "", "| class | IoU | accuracy |", "|---|---|---|"]
    per_acc = report.get("per_class_accuracy", {})
    for name, iou in report["per_class_iou"].items():
        lines.append(f"| {name} | {_pct(iou)} | {_pct(per_acc.get(name))} |")
    lines += ["", "## Figures", "", f"![confusion matrix]({rel(os.path.join(figures_dir, 'confusion_matrix.png'))})"]
    if training_log:
        curve = os.path.join(figures_dir, "training_curves.png")
        save_training_curves(training_log, curve)
        lines += ["", f"![training curves]({rel(curve)})"]
    for overlay in overlays:
        lines += ["", f"![image | truth | prediction]({rel(overlay)})"]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
