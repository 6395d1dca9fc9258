"""Image/mask pairs from folders or list files, checked loudly.

Pairing, headers, PNG checksums, JPEG end markers, sizes and channel counts
are checked eagerly in Python when the source is built (about 1.5 ms per
pair), so most bad input fails before any TensorFlow runs. Mask ids are
checked inside the tf.data pipeline by assertions whose message carries the
mask's path, so a bad id fails at the first batch that contains it. With
``on_error="skip"`` every pair is decoded eagerly instead, bad pairs are
dropped, logged and listed in ``SegmentationData.skipped``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from kseg.data.source import (
    SegmentationData,
    check_ignore_id,
    resolve_names_and_palette,
)

logger = logging.getLogger("kseg.data")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
_LOSSY_MASK_EXTENSIONS = (".jpg", ".jpeg")
# PIL modes -> what they mean for us.
_IMAGE_MODES = {"L": 1, "RGB": 3, "P": 3}
_INDEX_MASK_MODES = ("L", "P", "1", "I;16", "I;16B", "I")
_MAX_LISTED = 10


class DataError(ValueError):
    """Bad input data; the message names every offending file."""


# --------------------------------------------------------------------------
# Mask value -> class id mapping, shared by the NumPy and the TF paths.


class MaskCodec:
    """Turns raw mask values into class ids.

    kind: ``"index"`` (one raw value per pixel: L, P, 1, 16-bit PNGs) or
    ``"rgb"`` (colour-coded masks; colours are packed as ``r<<16|g<<8|b``).
    Raw values that the mapping does not know become -1, which the checks
    report as an error.
    """

    def __init__(self, kind, label_map=None, colour_table=None, ignore_id=255):
        self.kind = kind
        self.ignore_id = ignore_id
        self.keys = None
        self.values = None
        if kind == "rgb":
            if colour_table is None:
                raise ValueError("RGB masks need a colour_table.")
            self.keys, self.values = _colour_table_arrays(colour_table)
        elif label_map is not None:
            self.keys = np.array(list(label_map.keys()), np.int64)
            self.values = np.array(list(label_map.values()), np.int32)

    @property
    def description(self):
        if self.kind == "rgb":
            return "colour_table"
        return "label_map" if self.keys is not None else None

    def map_numpy(self, raw: np.ndarray) -> np.ndarray:
        if self.kind == "rgb":
            raw = _pack_rgb_np(raw)
        if self.keys is None:
            return raw.astype(np.int32)
        order = np.argsort(self.keys)
        keys, values = self.keys[order], self.values[order]
        pos = np.clip(np.searchsorted(keys, raw), 0, len(keys) - 1)
        return np.where(keys[pos] == raw, values[pos], -1).astype(np.int32)

    def map_tf(self, raw: tf.Tensor) -> tf.Tensor:
        if self.kind == "rgb":
            raw = _pack_rgb_tf(raw)
        else:
            raw = tf.cast(raw, tf.int64)
        if self.keys is None:
            return tf.cast(raw, tf.int32)
        if self.kind == "index" and self.keys.max() < 65536 and self.keys.min() >= 0:
            # A dense table gathers much faster than a hash lookup.
            size = 256 if self.keys.max() < 256 else 65536
            table = np.full(size, -1, np.int32)
            table[self.keys] = self.values
            return tf.gather(tf.constant(table), tf.clip_by_value(raw, 0, size - 1))
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.keys), tf.constant(self.values)), default_value=-1)
        return table.lookup(raw)

    def describe_raw(self, raw_value) -> str:
        if self.kind == "rgb":
            v = int(raw_value)
            return f"colour ({v >> 16}, {(v >> 8) & 255}, {v & 255})"
        return f"value {int(raw_value)}"


def _colour_table_arrays(colour_table):
    """colour_table: ``{(r, g, b): id}`` or a sequence of (r, g, b) per id."""
    if isinstance(colour_table, Mapping):
        items = list(colour_table.items())
    else:
        items = [(c, i) for i, c in enumerate(colour_table)]
    if not items:
        raise ValueError("colour_table is empty.")
    keys, values = [], []
    for colour, cid in items:
        c = tuple(int(v) for v in colour)
        if len(c) != 3 or not all(0 <= v <= 255 for v in c):
            raise ValueError(f"colour_table entry {colour!r} is not an (r, g, b) triple of 0..255.")
        keys.append((c[0] << 16) | (c[1] << 8) | c[2])
        values.append(int(cid))
    if len(set(keys)) != len(keys):
        raise ValueError("colour_table lists the same colour twice.")
    return np.array(keys, np.int64), np.array(values, np.int32)


def _pack_rgb_np(raw):
    raw = raw.astype(np.int64)
    return (raw[..., 0] << 16) | (raw[..., 1] << 8) | raw[..., 2]


def _pack_rgb_tf(raw):
    raw = tf.cast(raw, tf.int64)
    return raw[..., 0] * 65536 + raw[..., 1] * 256 + raw[..., 2]


def check_label_map(label_map, ignore_id):
    if label_map is None:
        return None
    if not isinstance(label_map, Mapping) or not label_map:
        raise ValueError(f"label_map must be a non-empty dict {{raw: class_id}}; got {label_map!r}.")
    out = {}
    for k, v in label_map.items():
        try:
            k, v = int(k), int(v)
        except (TypeError, ValueError):
            raise ValueError(f"label_map entry {k!r}: {v!r} is not int -> int.") from None
        if k < 0 or v < 0:
            raise ValueError(f"label_map entry {k}: {v} is negative.")
        out[k] = v
    return out


def num_classes_from_mapping(values, ignore_id):
    ids = [int(v) for v in values if int(v) != ignore_id]
    return max(ids) + 1 if ids else 0


# --------------------------------------------------------------------------
# Eager checks.


def _png_or_jpeg(path, im):
    fmt = (im.format or "").upper()
    if fmt not in ("PNG", "JPEG"):
        raise DataError(f"{path}: unsupported format {fmt or 'unknown'} (PNG or JPEG expected).")
    return fmt


def _jpeg_complete(path):
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 1024))
        tail = f.read().rstrip(b"\x00")
    return b"\xff\xd9" in tail[-64:]


def _inspect(path, *, role, full):
    """Opens one file; returns (format, mode, (w, h), pixels or None)."""
    try:
        with Image.open(path) as im:
            fmt = _png_or_jpeg(path, im)
            mode, size = im.mode, im.size
            if full:
                im.load()
                return fmt, mode, size, np.asarray(im)
            if fmt == "PNG":
                # verify() checks every chunk CRC and the end marker:
                # catches truncated and corrupted PNGs without decoding.
                im.verify()
    except DataError:
        raise
    except Exception as e:  # PIL raises many types for broken files.
        raise DataError(f"{path}: corrupt or truncated {role} ({type(e).__name__}: {e}).") from None
    if fmt == "JPEG" and not _jpeg_complete(path):
        raise DataError(f"{path}: truncated {role} (JPEG end marker missing).")
    return fmt, mode, size, None


def _check_pair(image_path, mask_path, *, image_channels, codec_kind, full,
                codec=None, num_classes=None, ignore_id=255):
    """Raises DataError naming the file and problem; returns the mask mode."""
    fmt, mode, isize, _ = _inspect(image_path, role="image", full=full)
    if mode not in _IMAGE_MODES:
        raise DataError(
            f"{image_path}: image mode {mode} has the wrong channel count "
            f"(expected RGB or grayscale).")
    if image_channels == 1 and _IMAGE_MODES[mode] != 1:
        raise DataError(f"{image_path}: image has 3 channels but image_channels=1.")
    if Path(mask_path).suffix.lower() in _LOSSY_MASK_EXTENSIONS:
        raise DataError(f"{mask_path}: masks must be PNG; JPEG compression changes label values.")
    mfmt, mmode, msize, pixels = _inspect(mask_path, role="mask", full=full)
    if mfmt != "PNG":
        raise DataError(f"{mask_path}: masks must be PNG; got {mfmt}.")
    if codec_kind == "rgb" and mmode != "RGB":
        raise DataError(f"{mask_path}: colour_table given but the mask has mode {mmode}, not RGB.")
    if codec_kind == "index" and mmode not in _INDEX_MASK_MODES:
        hint = " (RGB colour-coded masks need colour_table=...)" if mmode == "RGB" else ""
        raise DataError(
            f"{mask_path}: mask mode {mmode} has the wrong channel count; a "
            f"single-channel index or palette PNG is expected{hint}.")
    if isize != msize:
        raise DataError(
            f"{mask_path}: size {msize[0]}x{msize[1]} (WxH) does not match image "
            f"{image_path} size {isize[0]}x{isize[1]}.")
    if full and codec is not None:
        ids = codec.map_numpy(pixels)
        _check_ids_numpy(ids, pixels, codec, num_classes, ignore_id, mask_path)
    return mmode


def _check_ids_numpy(ids, raw, codec, num_classes, ignore_id, mask_path):
    unmapped = ids < 0
    if unmapped.any():
        raw_flat = _pack_rgb_np(raw) if codec.kind == "rgb" else raw
        bad = np.unique(raw_flat[unmapped])[:5]
        raise DataError(
            f"{mask_path}: mask {', '.join(codec.describe_raw(b) for b in bad)} "
            f"not in {codec.description}.")
    if num_classes is not None:
        bad = np.unique(ids[(ids >= num_classes) & (ids != ignore_id)])
        if bad.size:
            raise DataError(
                f"{mask_path}: mask id(s) {bad[:5].tolist()} >= num_classes={num_classes} "
                f"and not the ignore id {ignore_id}.")


def _raise_or_skip(problems, on_error, what):
    if not problems:
        return
    listed = "\n  ".join(f"{p}: {r}" if not r.startswith(str(p)) else r
                         for p, r in problems[:_MAX_LISTED])
    more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    if on_error == "raise":
        raise DataError(f"{len(problems)} bad {what}:\n  {listed}{more}\n"
                        "Fix them or pass on_error='skip' to drop them.")
    logger.warning("Skipping %d bad %s:\n  %s%s", len(problems), what, listed, more)


# --------------------------------------------------------------------------
# Pair discovery.


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


# --------------------------------------------------------------------------
# Decoding inside tf.data.


def _pil_index_mask(path):
    with Image.open(path.decode() if isinstance(path, bytes) else path) as im:
        arr = np.asarray(im)
    return arr.astype(np.int32)


def map_and_check(raw, codec, *, num_classes, ignore_id, source):
    """Maps raw mask values to ids inside a tf.data function, asserting that
    every id is a class or the ignore id. ``source`` (a path tensor or a
    string) is part of the error message so users learn which file is bad.
    """
    mask = codec.map_tf(raw)
    flat = tf.reshape(mask, [-1])
    out_of_range = (flat >= num_classes) & (flat != ignore_id)
    checks = [tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(out_of_range)),
        [f"mask id >= num_classes={num_classes} and not the ignore id {ignore_id} in",
         source, "id:", tf.boolean_mask(flat, out_of_range)[:1]], summarize=3)]
    if codec.keys is not None:
        unmapped = flat < 0
        flat_raw = tf.reshape(_pack_rgb_tf(raw) if codec.kind == "rgb" else tf.cast(raw, tf.int64), [-1])
        checks.append(tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(unmapped)),
            [f"mask raw value not in {codec.description} in", source,
             "raw value (colours packed r*65536+g*256+b):",
             tf.boolean_mask(flat_raw, unmapped)[:1]], summarize=3))
    with tf.control_dependencies(checks):
        return tf.identity(mask)


def _make_decode_fn(*, image_channels, mask_modes, codec, num_classes, ignore_id):
    if codec.kind == "rgb":
        def read_mask(path):
            return tf.io.decode_png(tf.io.read_file(path), channels=3)
    elif mask_modes <= {"L"}:
        def read_mask(path):
            return tf.io.decode_png(tf.io.read_file(path), channels=1)[..., 0]
    elif mask_modes <= {"I;16", "I;16B"}:
        def read_mask(path):
            return tf.io.decode_png(tf.io.read_file(path), channels=1, dtype=tf.uint16)[..., 0]
    else:
        # TF expands palette PNGs to RGB and scales 1-bit ones; PIL keeps
        # palette indices, which are the class ids in VOC-style masks.
        def read_mask(path):
            m = tf.numpy_function(_pil_index_mask, [path], tf.int32, stateful=False)
            m.set_shape([None, None])
            return m

    def decode(image_path, mask_path):
        image = tf.io.decode_image(tf.io.read_file(image_path), channels=image_channels,
                                   expand_animations=False)
        mask = map_and_check(read_mask(mask_path), codec, num_classes=num_classes,
                             ignore_id=ignore_id, source=mask_path)
        size_check = tf.debugging.Assert(
            tf.reduce_all(tf.shape(image)[:2] == tf.shape(mask)[:2]),
            ["image/mask size mismatch:", image_path, tf.shape(image), mask_path, tf.shape(mask)])
        with tf.control_dependencies([size_check]):
            mask = tf.identity(mask)
        image.set_shape([None, None, image_channels])
        return image, mask

    return decode


# --------------------------------------------------------------------------
# Public builders.


def from_pairs(pairs, problems=(), *, label_map=None, ignore_id=255, colour_table=None,
               num_classes=None, class_names=None, palette=None, on_error="raise",
               validate="header", image_channels=3, name="") -> SegmentationData:
    """Builds a source from ``(image_path, mask_path)`` pairs.

    See :func:`from_folders` for the arguments.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip'; got {on_error!r}.")
    if validate not in ("header", "full"):
        raise ValueError(f"validate must be 'header' or 'full'; got {validate!r}.")
    if image_channels not in (1, 3):
        raise ValueError(f"image_channels must be 1 or 3; got {image_channels!r}.")
    if label_map is not None and colour_table is not None:
        raise ValueError("Pass label_map or colour_table, not both.")
    ignore_id = check_ignore_id(ignore_id)
    label_map = check_label_map(label_map, ignore_id)
    kind = "rgb" if colour_table is not None else "index"
    codec = MaskCodec(kind, label_map=label_map, colour_table=colour_table, ignore_id=ignore_id)

    if num_classes is None:
        if codec.values is not None:
            num_classes = num_classes_from_mapping(codec.values, ignore_id)
        elif class_names is not None:
            num_classes = len(class_names)
    if num_classes is not None and (not isinstance(num_classes, (int, np.integer)) or num_classes < 1):
        raise ValueError(f"num_classes must be a positive int; got {num_classes!r}.")

    problems = list(problems)
    full = on_error == "skip" or validate == "full"
    good, mask_modes = [], set()
    for ip, mp in pairs:
        try:
            mask_modes.add(_check_pair(ip, mp, image_channels=image_channels, codec_kind=kind,
                                       full=full, codec=codec, num_classes=num_classes,
                                       ignore_id=ignore_id))
            good.append((ip, mp))
        except DataError as e:
            problems.append((mp if str(e).startswith(mp) else ip, str(e)))
    _raise_or_skip(problems, on_error, "image/mask pairs")
    if not good:
        raise DataError(f"{name or 'source'}: no usable image/mask pairs.")

    if num_classes is None:
        num_classes = _infer_num_classes(good, codec, ignore_id)
        logger.info("%s: inferred num_classes=%d from the masks.", name or "source", num_classes)
    names, pal = resolve_names_and_palette(num_classes, class_names, palette)

    decode = _make_decode_fn(image_channels=image_channels, mask_modes=mask_modes, codec=codec,
                             num_classes=num_classes, ignore_id=ignore_id)
    paths = tf.data.Dataset.from_tensor_slices(
        (tf.constant([p[0] for p in good]), tf.constant([p[1] for p in good])))
    dataset = paths.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    data = SegmentationData(
        dataset=dataset, num_classes=int(num_classes), class_names=names, palette=pal,
        ignore_id=ignore_id, num_examples=len(good), skipped=tuple(problems),
        files=tuple(good), name=name, paths_dataset=paths, decode_fn=decode)
    return data


def _infer_num_classes(pairs, codec, ignore_id):
    top = -1
    for _, mp in pairs:
        with Image.open(mp) as im:
            ids = codec.map_numpy(np.asarray(im))
        ids = ids[(ids != ignore_id) & (ids >= 0)]
        if ids.size:
            top = max(top, int(ids.max()))
    if top < 0:
        raise DataError("Every mask pixel is the ignore id; cannot infer num_classes.")
    return top + 1


def from_folders(images_dir, masks_dir, *, label_map: Optional[Mapping[int, int]] = None,
                 ignore_id: int = 255, colour_table=None, num_classes: Optional[int] = None,
                 class_names: Optional[Sequence[str]] = None, palette=None,
                 on_error: str = "raise", validate: str = "header", image_channels: int = 3,
                 mask_suffix: str = "") -> SegmentationData:
    """Image/mask pairs matched by file stem.

    Args:
        images_dir: folder of PNG/JPEG images, RGB or grayscale.
        masks_dir: folder of PNG masks, one per image with the same stem
            (plus ``mask_suffix``): single-channel index PNGs (8 or 16 bit),
            palette PNGs (palette index = class id), 1-bit PNGs (0/1) or, with
            ``colour_table``, RGB colour-coded masks.
        label_map: ``{raw value: class id}`` applied to index masks, e.g.
            ``{0: 0, 255: 1}`` for binary masks or ``{11: 255}``-style
            entries to send a value to the ignore id. Raw values missing
            from the map are errors.
        ignore_id: mask value that marks pixels to ignore.
        colour_table: for RGB masks, ``{(r, g, b): class id}`` or a list of
            colours indexed by class id.
        num_classes: number of classes; inferred from label_map,
            colour_table, class_names or (by reading every mask) the data.
        class_names, palette: names and ``uint8 [num_classes, 3]`` colours.
        on_error: ``"raise"`` (default) stops at bad pairs with one error
            listing them; ``"skip"`` decodes every pair up front, drops bad
            ones, logs a warning and lists them in ``.skipped``.
        validate: ``"header"`` (default: pairing, headers, PNG checksums,
            sizes, channels; mask ids are checked in the pipeline) or
            ``"full"`` (decode everything up front).
        image_channels: 3 (grayscale images are expanded) or 1.
        mask_suffix: mask stem = image stem + suffix (e.g. ``"_L"``).

    Returns:
        SegmentationData yielding ``(uint8 [H, W, image_channels], int32 [H, W])``.
    """
    pairs, problems = find_pairs(images_dir, masks_dir, mask_suffix=mask_suffix)
    return from_pairs(pairs, problems, label_map=label_map, ignore_id=ignore_id,
                      colour_table=colour_table, num_classes=num_classes,
                      class_names=class_names, palette=palette, on_error=on_error,
                      validate=validate, image_channels=image_channels,
                      name=f"folder:{images_dir}:{masks_dir}")


def from_list_file(list_file, *, root=None, **kwargs) -> SegmentationData:
    """Pairs from a text file of ``image mask`` lines (CamVid ``train.txt``).

    Relative paths resolve against ``root`` (default: the list file's
    folder). Other keyword arguments are those of :func:`from_folders`.
    """
    pairs, problems = read_list_file(list_file, root=root)
    kwargs.setdefault("name", f"list:{list_file}")
    return from_pairs(pairs, problems, **kwargs)
