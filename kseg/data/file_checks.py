"""Eager checks of image/mask files, before any TensorFlow runs.

Headers, PNG checksums, JPEG end markers, sizes and channel counts cost
about 1.5 ms a pair; ``full=True`` also decodes the mask and checks its ids.
Every error is a :class:`DataError` whose message starts with the file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from kseg.data.images import COLOUR_MODES, GRAY_MODES
from kseg.data.mask_codec import out_of_range_message, unmapped_message
from kseg.data.options import option, option_name
from kseg.data.source import DataError

logger = logging.getLogger("kseg.data")

LOSSY_MASK_EXTENSIONS = (".jpg", ".jpeg")
# PIL modes -> channel count (16-bit grayscale is read scaled to 8 bits,
# see kseg.data.images).
IMAGE_MODES = {**{m: 1 for m in GRAY_MODES}, **{m: 3 for m in COLOUR_MODES}}
INDEX_MASK_MODES = ("L", "P", "1", "I;16", "I;16B", "I")
MAX_LISTED = 10


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


def inspect_file(path, *, role, full):
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


def check_pair(image_path, mask_path, *, image_channels, codec, full, num_classes=None,
               ignore_id=255):
    """Raises DataError naming the file and problem; returns the mask's PIL mode.

    With ``full`` the mask is decoded and every id checked against ``codec``
    and ``num_classes``.
    """
    fmt, mode, isize, _ = inspect_file(image_path, role="image", full=full)
    if mode not in IMAGE_MODES:
        raise DataError(
            f"{image_path}: image mode {mode} has the wrong channel count "
            f"(expected RGB or grayscale).")
    if image_channels == 1 and IMAGE_MODES[mode] != 1:
        raise DataError(f"{image_path}: image has 3 channels but image_channels=1.")
    if Path(mask_path).suffix.lower() in LOSSY_MASK_EXTENSIONS:
        raise DataError(f"{mask_path}: masks must be PNG; JPEG compression changes label values.")
    mfmt, mmode, msize, pixels = inspect_file(mask_path, role="mask", full=full)
    if mfmt != "PNG":
        raise DataError(f"{mask_path}: masks must be PNG; got {mfmt}.")
    if codec.kind == "rgb" and mmode != "RGB":
        raise DataError(f"{mask_path}: {option_name('colour_table')} given but the mask has mode {mmode}, "
                        "not RGB.")
    if codec.kind == "index" and mmode not in INDEX_MASK_MODES:
        hint = f" (RGB colour-coded masks need {option('colour_table')})" if mmode == "RGB" else ""
        raise DataError(
            f"{mask_path}: mask mode {mmode} has the wrong channel count; a "
            f"single-channel index or palette PNG is expected{hint}.")
    if isize != msize:
        raise DataError(
            f"{mask_path}: size {msize[0]}x{msize[1]} (WxH) does not match image "
            f"{image_path} size {isize[0]}x{isize[1]}.")
    if full:
        check_ids_numpy(pixels, codec, num_classes, ignore_id, mask_path)
    return mmode


def check_ids_numpy(raw, codec, num_classes, ignore_id, mask_path):
    """Raises DataError if a raw value of ``raw`` is unmapped or its id is no
    class (``[0, num_classes)``) and not ``ignore_id``; returns the ids."""
    ids = codec.map_numpy(raw)
    if codec.keys is not None:
        unmapped = ids < 0
        if unmapped.any():
            bad = np.unique(codec.raw_numpy(raw)[unmapped])[:5]
            raise DataError(unmapped_message(
                mask_path, ", ".join(codec.describe_raw(b) for b in bad), codec))
    if num_classes is not None:
        bad = np.unique(ids[((ids >= num_classes) | (ids < 0)) & (ids != ignore_id)])
        if bad.size:
            raise DataError(out_of_range_message(mask_path, bad[:5].tolist(), num_classes, ignore_id))
    return ids


def raise_or_skip(problems, on_error, what):
    """``problems``: ``(path, reason)`` pairs. Raises one DataError listing them
    (``on_error="raise"``) or logs a warning (``"skip"``)."""
    if not problems:
        return
    listed = "\n  ".join(f"{p}: {r}" if not r.startswith(str(p)) else r
                         for p, r in problems[:MAX_LISTED])
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    if on_error == "raise":
        raise DataError(f"{len(problems)} bad {what}:\n  {listed}{more}\n"
                        f"Fix them or pass {option('on_error', 'skip')} to drop them.")
    logger.warning("Skipping %d bad %s:\n  %s%s", len(problems), what, listed, more)
