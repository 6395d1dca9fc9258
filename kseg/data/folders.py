"""Image/mask pairs from folders or list files, checked loudly.

Pairing (:mod:`kseg.data.discovery`), headers, PNG checksums, JPEG end
markers, sizes and channel counts (:mod:`kseg.data.file_checks`) are checked
eagerly in Python when the source is built (about 1.5 ms per pair), so most
bad input fails before any TensorFlow runs. Mask values are mapped by
:class:`~kseg.data.mask_codec.MaskCodec` and checked inside the tf.data
pipeline (:mod:`kseg.data.mask_decode`) by assertions whose message starts
with the mask's path, so a bad id fails at the first batch that contains it.
With ``on_error="skip"`` every pair is decoded eagerly instead, bad pairs are
dropped, logged and listed in ``SegmentationData.skipped``.

This module holds the builders; the names it re-exports are importable from
here as before.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from kseg._checks import check_ignore_id, positive_int
from kseg.data.discovery import IMAGE_EXTENSIONS, find_pairs, read_list_file
from kseg.data.file_checks import check_ids_numpy, check_pair, logger, raise_or_skip
from kseg.data.mask_codec import MaskCodec, check_label_map, num_classes_from_mapping
from kseg.data.mask_decode import make_decode_fn, map_and_check
from kseg.data.options import option, option_name
from kseg.data.source import DataError, SegmentationData, resolve_names_and_palette

__all__ = [
    "DataError", "IMAGE_EXTENSIONS", "MaskCodec", "check_label_map", "find_pairs", "from_folders",
    "from_list_file", "from_pairs", "logger", "map_and_check", "num_classes_from_mapping",
    "read_list_file",
]


def from_pairs(pairs, problems=(), *, label_map=None, ignore_id=255, colour_table=None,
               num_classes=None, class_names=None, palette=None, on_error="raise",
               validate="header", image_channels=3, name="") -> SegmentationData:
    """Builds a source from ``(image_path, mask_path)`` pairs.

    See :func:`from_folders` for the arguments.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"{option_name('on_error')} must be 'raise' or 'skip'; got {on_error!r}.")
    if validate not in ("header", "full"):
        raise ValueError(f"validate must be 'header' or 'full'; got {validate!r}.")
    if image_channels not in (1, 3):
        raise ValueError(f"image_channels must be 1 or 3; got {image_channels!r}.")
    if label_map is not None and colour_table is not None:
        raise ValueError(f"Pass {option_name('label_map')} or {option_name('colour_table')}, not both.")
    ignore_id = check_ignore_id(ignore_id)
    kind = "rgb" if colour_table is not None else "index"
    codec = MaskCodec(kind, label_map=label_map, colour_table=colour_table)

    if num_classes is None:
        if codec.values is not None:
            num_classes = num_classes_from_mapping(codec.values, ignore_id)
        elif class_names is not None:
            num_classes = len(class_names)
    if num_classes is not None:
        num_classes = positive_int(num_classes, "num_classes")

    problems = list(problems)
    full = on_error == "skip" or validate == "full"
    good, mask_modes = [], set()
    for ip, mp in pairs:
        try:
            mask_modes.add(check_pair(ip, mp, image_channels=image_channels, codec=codec,
                                      full=full, num_classes=num_classes, ignore_id=ignore_id))
            good.append((ip, mp))
        except DataError as e:
            problems.append((mp if str(e).startswith(mp) else ip, str(e)))
    raise_or_skip(problems, on_error, "image/mask pairs")
    if not good:
        raise DataError(f"{name or 'source'}: no usable image/mask pairs.")

    if num_classes is None:
        num_classes = _infer_num_classes(good, codec, ignore_id)
        logger.info("%s: inferred num_classes=%d from the masks.", name or "source", num_classes)
    if palette is None and mask_modes == {"P"} and codec.keys is None:
        # Palette masks: class id = palette index, drawn in the palette's colours.
        palette = mask_palette(good[0][1], num_classes)
    names, pal = resolve_names_and_palette(num_classes, class_names, palette)

    decode = make_decode_fn(image_channels=image_channels, mask_modes=mask_modes, codec=codec,
                            num_classes=num_classes, ignore_id=ignore_id)
    paths = tf.data.Dataset.from_tensor_slices(
        (tf.constant([p[0] for p in good]), tf.constant([p[1] for p in good])))
    dataset = paths.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    data = SegmentationData(
        dataset=dataset, num_classes=int(num_classes), class_names=names, palette=pal,
        ignore_id=ignore_id, num_examples=len(good), skipped=tuple(problems),
        files=tuple(good), name=name, paths_dataset=paths, decode_fn=decode)
    return data


MAX_LISTED_VALUES = 12


def mask_palette(mask_path, num_classes):
    """``uint8 [num_classes, 3]``: the first colours of a palette PNG's palette
    (black for indexes the palette lacks)."""
    with Image.open(mask_path) as im:
        flat = im.getpalette() or []
    colours = np.zeros((num_classes, 3), np.uint8)
    table = np.asarray(flat[: 3 * num_classes], np.uint8).reshape(-1, 3)
    colours[: len(table)] = table
    return colours


def _infer_num_classes(pairs, codec, ignore_id):
    """1 + the largest id in the masks; raw values unknown to ``codec`` fail
    here, naming the mask. Values that cannot be class ids of themselves
    (16-bit values, or classes running past the ignore id) fail listing the
    values found and the label map that would number them."""
    found = set()
    for _, mp in pairs:
        with Image.open(mp) as im:
            raw = np.asarray(im)
        ids = check_ids_numpy(raw, codec, None, ignore_id, mp)
        found.update(np.unique(ids[ids != ignore_id]).tolist())
    if not found:
        raise DataError("Every mask pixel is the ignore id; cannot infer num_classes.")
    top = max(found)
    if codec.keys is None and (top > 255 or 0 <= ignore_id <= top):
        values = sorted(found)[:MAX_LISTED_VALUES]
        more = f", ... ({len(found)} values)" if len(found) > MAX_LISTED_VALUES else ""
        clash = f" and run into the ignore id {ignore_id}" if 0 <= ignore_id <= top else ""
        suggestion = option("label_map", dict(zip(values, range(len(values)))),
                            ",".join(f"{v}={i}" for i, v in enumerate(values)))
        raise DataError(
            f"The masks hold the values {', '.join(map(str, values))}{more}: read as class ids they "
            f"would make {top + 1} classes{clash}. Number them with a label map, e.g. {suggestion}")
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
