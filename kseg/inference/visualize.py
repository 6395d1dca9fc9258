"""Colour masks, overlays, triptychs and confusion-matrix plots (PNG)."""

import numpy as np
from PIL import Image


def colorize(mask, palette, ignore_id=255):
    """``int [H, W]`` class map -> ``uint8 [H, W, 3]``; ignore and unknown ids are black."""
    palette = np.asarray(palette, np.uint8)
    mask = np.asarray(mask)
    out = np.zeros((*mask.shape, 3), np.uint8)
    valid = (mask >= 0) & (mask < len(palette)) & (mask != ignore_id)
    out[valid] = palette[mask[valid]]
    return out


def overlay(image, colour_mask, alpha=0.5):
    """Blend an RGB image ``uint8 [H, W, 3]`` with a colour mask of the same size."""
    image = np.asarray(image, np.float32)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return np.clip((1 - alpha) * image + alpha * colour_mask, 0, 255).astype(np.uint8)


def triptych(image, truth, prediction, palette, ignore_id=255):
    """``uint8 [H, 3W, 3]``: ``image | truth | prediction``, truth and prediction
    drawn the same way (class colours blended over the image), so a class
    looks the same in both panels, whatever its colour (black included).
    Ignored truth pixels show the bare image."""
    image = np.asarray(image, np.uint8)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)

    def panel(classes):
        drawn = overlay(image, colorize(classes, palette, ignore_id))
        keep = np.asarray(classes) == ignore_id
        drawn[keep] = image[keep]
        return drawn

    return np.concatenate([image, panel(truth), panel(prediction)], axis=1)


def save_triptych(path, image, truth, prediction, palette, ignore_id=255):
    """Save :func:`triptych` as a PNG."""
    Image.fromarray(triptych(image, truth, prediction, palette, ignore_id)).save(path)


def save_confusion_png(path, confusion, class_names):
    """Row-normalised confusion matrix (rows: truth) as a labelled heat map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion, np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
