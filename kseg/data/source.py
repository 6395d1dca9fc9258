"""The object every kseg data source returns, and helpers shared by sources."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np
import tensorflow as tf

from kseg._checks import check_ignore_id  # noqa: F401  (kseg.data.source.check_ignore_id)

DEFAULT_IGNORE_ID = 255


class DataError(ValueError):
    """Bad input data; the message names every offending file."""


@dataclasses.dataclass
class SegmentationData:
    """A segmentation data source: a ``tf.data.Dataset`` plus what it means.

    Attributes:
        dataset: ``tf.data.Dataset`` of ``(image, mask)`` pairs, image
            ``uint8 [H, W, C]``, mask ``int32 [H, W]`` holding class ids in
            ``[0, num_classes)`` or ``ignore_id``.
        num_classes: number of classes (the ignore id is not a class).
        class_names: ``num_classes`` names.
        palette: ``uint8 [num_classes, 3]`` display colours.
        ignore_id: mask value that losses and metrics must skip.
        num_examples: number of pairs, or None when unknown (some TFDS splits).
        skipped: ``(path, reason)`` for every pair dropped by
            ``on_error="skip"``; empty otherwise.
        files: ``(image_path, mask_path)`` pairs for file-based sources.

    Attribute access that the object does not define (``map``, ``batch``,
    ``take``, ``element_spec``...) and iteration go to ``dataset``, so the
    object can be used where a ``tf.data.Dataset`` is expected in Python.
    """

    dataset: tf.data.Dataset
    num_classes: int
    class_names: tuple
    palette: np.ndarray
    ignore_id: int = DEFAULT_IGNORE_ID
    num_examples: Optional[int] = None
    skipped: tuple = ()
    files: tuple = ()
    name: str = ""
    # File-based sources: the (image_path, mask_path) dataset and the
    # function decoding it, so pipelines can shuffle paths before decoding.
    paths_dataset: Optional[tf.data.Dataset] = dataclasses.field(default=None, repr=False)
    decode_fn: Optional[Any] = dataclasses.field(default=None, repr=False)

    def __post_init__(self):
        self.class_names = tuple(str(n) for n in self.class_names)
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"class_names has {len(self.class_names)} entries but "
                f"num_classes is {self.num_classes}."
            )
        self.palette = np.asarray(self.palette, dtype=np.uint8)
        if self.palette.shape != (self.num_classes, 3):
            raise ValueError(
                f"palette must have shape ({self.num_classes}, 3); got "
                f"{self.palette.shape}."
            )
        if 0 <= self.ignore_id < self.num_classes:
            raise ValueError(
                f"ignore_id={self.ignore_id} collides with a class id "
                f"(num_classes={self.num_classes})."
            )
        self.skipped = tuple(self.skipped)
        self.files = tuple(self.files)

    def __getattr__(self, name):
        # Only reached for names the dataclass lacks; guards against
        # recursion while the instance is being built or unpickled.
        if name.startswith("__") or "dataset" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["dataset"], name)

    def __iter__(self):
        return iter(self.dataset)

    def __len__(self):
        if self.num_examples is None:
            raise TypeError(f"{self.name or 'this source'} has unknown length.")
        return self.num_examples

    def colorize(self, mask: Any) -> np.ndarray:
        """Colour a mask ``int [..., H, W]`` -> ``uint8 [..., H, W, 3]``.

        Ignore (and any out-of-range) pixels are drawn white.
        """
        mask = np.asarray(mask)
        # Row 0 is white for negative ids (clipping them to 0 would draw class 0).
        table = np.full((max(256, self.ignore_id + 1, int(mask.max(initial=0)) + 1) + 1, 3),
                        255, np.uint8)
        table[1: self.num_classes + 1] = self.palette
        return table[np.maximum(mask, -1) + 1]


def as_dataset(data) -> tf.data.Dataset:
    """Returns the ``tf.data.Dataset`` inside ``data`` (or ``data`` itself)."""
    if isinstance(data, SegmentationData):
        return data.dataset
    if isinstance(data, tf.data.Dataset):
        return data
    raise TypeError(
        "Expected a kseg.data.SegmentationData or a tf.data.Dataset of "
        f"(image, mask); got {type(data).__name__}."
    )


def default_palette(num_classes: int) -> np.ndarray:
    """The PASCAL VOC colour map: distinct colours for any class count.

    Returns ``uint8 [num_classes, 3]``.
    """
    palette = np.zeros((num_classes, 3), np.uint8)
    for i in range(num_classes):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    return palette


def default_class_names(num_classes: int) -> tuple:
    return tuple(f"class_{i}" for i in range(num_classes))


def resolve_names_and_palette(num_classes: int, class_names: Optional[Sequence[str]],
                              palette) -> tuple:
    names = tuple(class_names) if class_names is not None else default_class_names(num_classes)
    pal = np.asarray(palette, np.uint8) if palette is not None else default_palette(num_classes)
    return names, pal
