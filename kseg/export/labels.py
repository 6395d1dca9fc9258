"""Class-name lists and the one-name-per-line labels file shipped with exports."""

import os

from kseg._io import atomic_write_text


def resolve_class_names(class_names, num_classes):
    """Validated list of ``num_classes`` names (``class_0``... when None)."""
    if class_names is None:
        return [f"class_{i}" for i in range(num_classes)]
    names = [str(name) for name in class_names]
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names but the model predicts {num_classes} classes.")
    for name in names:
        if not name.strip() or "\n" in name or "\r" in name:
            raise ValueError(f"class_names entries must be non-empty single-line strings, got {name!r}.")
    return names


def write_labels(path, class_names):
    """Write one class name per line (line i = class id i); returns ``path``."""
    atomic_write_text(path, "".join(f"{name}\n" for name in class_names))
    return os.fspath(path)


def read_labels(path):
    """Class names from a labels file written by ``write_labels``."""
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle if line.strip()]
