"""Finding image/mask pairs: by file stem in two folders, or from a list file."""

from __future__ import annotations

from pathlib import Path

from kseg.data.source import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def _stem_index(folder: Path, extensions, role):
    index = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file() or p.suffix.lower() not in extensions:
            continue
        if p.stem in index:
            raise DataError(f"{folder}: two {role}s share the stem {p.stem!r}: "
                            f"{index[p.stem].name} and {p.name}.")
        index[p.stem] = p
    return index


def find_pairs(images_dir, masks_dir, *, mask_suffix=""):
    """Pairs files by stem; returns (pairs, problems)."""
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    for d, arg in ((images_dir, "images_dir"), (masks_dir, "masks_dir")):
        if not d.is_dir():
            raise FileNotFoundError(f"{arg}: {d} is not a directory.")
    images = _stem_index(images_dir, IMAGE_EXTENSIONS, "image")
    masks = _stem_index(masks_dir, IMAGE_EXTENSIONS, "mask")
    if not images:
        raise DataError(f"images_dir {images_dir} contains no PNG/JPEG images.")
    if not masks:
        raise DataError(f"masks_dir {masks_dir} contains no PNG masks.")
    pairs, problems = [], []
    used = set()
    for stem, ip in images.items():
        mp = masks.get(stem + mask_suffix)
        if mp is None:
            problems.append((str(ip), f"{ip}: image without mask (looked for "
                                      f"{masks_dir / (stem + mask_suffix)}.png)."))
        else:
            used.add(stem + mask_suffix)
            pairs.append((str(ip), str(mp)))
    for stem, mp in masks.items():
        if stem not in used:
            problems.append((str(mp), f"{mp}: mask without image in {images_dir}."))
    return pairs, problems


def read_list_file(list_file, *, root=None):
    """Reads ``image mask`` lines (CamVid ``train.txt``); returns (pairs, problems).

    Relative paths resolve against ``root`` (default: the list file's folder).
    """
    list_file = Path(list_file)
    if not list_file.is_file():
        raise FileNotFoundError(f"list file {list_file} does not exist.")
    root = Path(root) if root is not None else list_file.parent
    pairs, problems = [], []
    for n, line in enumerate(list_file.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{list_file}:{n}: expected 'image mask', got {line!r}.")
        ip, mp = (Path(p) if Path(p).is_absolute() else root / p for p in parts)
        if not ip.is_file():
            problems.append((str(ip), f"{ip}: image listed at {list_file}:{n} does not exist "
                                      "(mask without image)."))
        elif not mp.is_file():
            problems.append((str(mp), f"{mp}: mask listed at {list_file}:{n} does not exist "
                                      "(image without mask)."))
        else:
            pairs.append((str(ip), str(mp)))
    if not pairs and not problems:
        raise DataError(f"list file {list_file} lists no pairs.")
    return pairs, problems
