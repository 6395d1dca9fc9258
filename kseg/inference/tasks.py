"""Listing the work of a batch prediction: one ``Task`` per input image, keyed by its relative path.

A task names its input and the three files it writes. Outputs are keyed by
the input's path relative to the folder given, without its suffix
(``a/x.jpg`` -> ``a/x_classes.png``), so ``a/x.jpg`` and ``b/x.png`` never
write the same file; two inputs that still share a key (``x.jpg`` and
``x.png`` in one folder) keep their suffixes (``x.jpg_classes.png``,
``x.png_classes.png``). A file given by itself is keyed by its name.
"""

import dataclasses
import os

from kseg.inference import storage

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
# What each task writes, by kind: "<key>_classes.png" and so on.
OUTPUT_KINDS = ("classes", "mask", "overlay")


@dataclasses.dataclass(frozen=True)
class Task:
    """One input image and where its outputs go (picklable: engines ship it to workers).

    Attributes:
        source: the image's path or URL.
        key: its output name stem, relative to ``output_dir`` (``a/x``).
        output_dir: the folder (or URL) all outputs go under.
    """

    source: str
    key: str
    output_dir: str

    def output(self, kind):
        """Path of the ``kind`` output (one of ``OUTPUT_KINDS``)."""
        return storage.join(self.output_dir, *f"{self.key}_{kind}.png".split("/"))

    @property
    def outputs(self):
        return {kind: self.output(kind) for kind in OUTPUT_KINDS}

    def as_row(self):
        return dataclasses.asdict(self)


def _stem(relative):
    return os.path.splitext(relative)[0]


def list_tasks(inputs, output_dir, *, recursive=False):
    """One ``Task`` per image in ``inputs`` (files, folders or URLs), in a stable order.

    Args:
        inputs: image paths and folders; a folder contributes its files whose
            suffix is one of ``IMAGE_SUFFIXES`` (with its subfolders when
            ``recursive``); a file named directly is taken whatever its suffix.
        output_dir: where the outputs go.

    Raises:
        FileNotFoundError: an input does not exist, or a folder holds no image.
        ValueError: two different inputs would write the same outputs, named.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found = {}  # source -> relative name, first listing wins
    for given in map(os.fspath, inputs):
        what = storage.kind(given)
        if what == "dir":
            images = [p for p in storage.list_files(given, recursive) if p.lower().endswith(IMAGE_SUFFIXES)]
            if not images:
                where = " or its subfolders" if recursive else " (add --recursive for its subfolders)"
                raise FileNotFoundError(f"Folder {given!r}{where} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
            for path in images:
                found.setdefault(path, storage.relative(path, given))
        elif what == "file":
            found.setdefault(given, given.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1])
        else:
            raise FileNotFoundError(f"Image {given!r} does not exist.")
    by_stem = {}
    for source, relative in found.items():
        by_stem.setdefault(_stem(relative), []).append(source)
    keys = {source: (_stem(relative) if len(by_stem[_stem(relative)]) == 1 else relative)
            for source, relative in found.items()}
    owner = {}
    for source, key in keys.items():
        if key in owner:
            raise ValueError(f"Inputs {owner[key]!r} and {source!r} would both write {key}_classes.png: "
                             "give their common folder instead (outputs keep the path below it).")
        owner[key] = source
    return [Task(source, key, os.fspath(output_dir)) for source, key in keys.items()]
