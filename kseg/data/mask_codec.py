"""Raw mask values -> class ids, the same mapping in NumPy and in TensorFlow.

Raw values the mapping does not know become -1; the checks in
:mod:`kseg.data.file_checks` (eager) and :mod:`kseg.data.mask_decode`
(tf.data) turn them into errors naming the mask, with the messages built
here so that both paths say the same thing.
"""

from __future__ import annotations

import json
import os
from typing import Mapping

import numpy as np
import tensorflow as tf

from kseg._checks import is_int
from kseg.data.options import option_name

UNMAPPED = -1


class MaskCodec:
    """Turns raw mask values into class ids.

    kind: ``"index"`` (one raw value per pixel: L, P, 1, 16-bit PNGs) or
    ``"rgb"`` (colour-coded masks; colours are packed as ``r<<16|g<<8|b``).
    label_map: ``{raw: class id}`` for index masks (None: raw value = id).
    colour_table: for RGB masks, ``{(r, g, b): id}`` or colours indexed by id.
    """

    def __init__(self, kind, label_map=None, colour_table=None):
        if kind not in ("index", "rgb"):
            raise ValueError(f"MaskCodec kind must be 'index' or 'rgb'; got {kind!r}.")
        self.kind = kind
        self.keys = None
        self.values = None
        if kind == "rgb":
            if colour_table is None:
                raise ValueError(f"RGB masks need {option_name('colour_table')}.")
            self.keys, self.values = _colour_table_arrays(colour_table)
        elif label_map is not None:
            label_map = check_label_map(label_map)
            self.keys = np.array(list(label_map.keys()), np.int64)
            self.values = np.array(list(label_map.values()), np.int32)

    @property
    def description(self):
        if self.kind == "rgb":
            return option_name("colour_table")
        return option_name("label_map") if self.keys is not None else None

    def raw_numpy(self, raw: np.ndarray) -> np.ndarray:
        """Raw values as int64 ``[H, W]`` (RGB masks packed)."""
        return pack_rgb_np(raw) if self.kind == "rgb" else np.asarray(raw).astype(np.int64)

    def raw_tf(self, raw: tf.Tensor) -> tf.Tensor:
        return pack_rgb_tf(raw) if self.kind == "rgb" else tf.cast(raw, tf.int64)

    def map_numpy(self, raw: np.ndarray) -> np.ndarray:
        """``[H, W]`` (or ``[H, W, 3]`` RGB) raw values -> int32 ids, -1 where unmapped."""
        raw = self.raw_numpy(raw)
        if self.keys is None:
            return raw.astype(np.int32)
        order = np.argsort(self.keys)
        keys, values = self.keys[order], self.values[order]
        pos = np.clip(np.searchsorted(keys, raw), 0, len(keys) - 1)
        return np.where(keys[pos] == raw, values[pos], UNMAPPED).astype(np.int32)

    def map_tf(self, raw: tf.Tensor) -> tf.Tensor:
        """Same as :meth:`map_numpy`, inside a graph."""
        raw = self.raw_tf(raw)
        if self.keys is None:
            return tf.cast(raw, tf.int32)
        if self.kind == "index" and self.keys.max() < 65536:
            # A dense table gathers much faster than a hash lookup. Raw
            # values above the largest key land on a trailing -1 entry (and
            # negative ones on a leading one): they stay unmapped and fail the
            # check instead of being clipped onto a real key.
            top = int(self.keys.max())
            table = np.full(top + 3, UNMAPPED, np.int32)
            table[self.keys + 1] = self.values
            return tf.gather(tf.constant(table), tf.clip_by_value(raw, -1, top + 1) + 1)
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.keys), tf.constant(self.values)), default_value=UNMAPPED)
        return table.lookup(raw)

    def describe_raw(self, raw_value) -> str:
        """``"value 300"`` or ``"colour (1, 2, 3)"`` for one (packed) raw value."""
        if self.kind == "rgb":
            v = int(raw_value)
            return f"colour ({v >> 16}, {(v >> 8) & 255}, {v & 255})"
        return f"value {int(raw_value)}"

    def describe_raw_tf(self, raw_value: tf.Tensor) -> tf.Tensor:
        """:meth:`describe_raw` for a scalar int64 tensor, as a string tensor."""
        if self.kind == "rgb":
            parts = [raw_value // 65536, (raw_value // 256) % 256, raw_value % 256]
            return tf.strings.join(["colour (", tf.strings.reduce_join(
                tf.strings.as_string(tf.stack(parts)), separator=", "), ")"])
        return tf.strings.join(["value ", tf.strings.as_string(raw_value)])


def unmapped_message(path, described, codec):
    """``"<path>: mask value 300 not in label_map."``"""
    return f"{path}: mask {described} not in {codec.description}."


def out_of_range_message(path, ids, num_classes, ignore_id):
    """``"<path>: mask id(s) [9] outside [0, num_classes=4) and not the ignore id 255."``"""
    return (f"{path}: mask id(s) {ids} outside [0, num_classes={num_classes}) and not the "
            f"ignore id {ignore_id}.")


def message_tf(template, path, detail):
    """One of the messages above as a string tensor: ``template(path, detail)``
    with ``path`` and ``detail`` string tensors, so the tf.data checks say
    exactly what the eager ones say."""
    head, rest = template("\0", "\1").split("\0")
    middle, tail = rest.split("\1")
    return tf.strings.join([head, path, middle, detail, tail])


def parse_colour_table(colour_table):
    """A colour table in any accepted form -> list of ``((r, g, b), id)``.

    Forms: ``{(r, g, b): id}``; a sequence of ``(r, g, b)`` indexed by id; a
    string ``"R,G,B=ID;R,G,B=ID"`` (or ``"R,G,B;R,G,B"``, ids in order); or
    the path of a file: ``.json`` (a list of ``[r, g, b]`` or an object
    ``{"r,g,b": id}``) or text lines ``R G B [name]`` (id = line number,
    blank and ``#`` lines skipped; CamVid's ``label_colors.txt``). The same
    forms work as keyword, config value and ``--colour-table`` flag.
    """
    if isinstance(colour_table, (str, os.PathLike)):
        colour_table = _colour_table_from_text(os.fspath(colour_table))
    if isinstance(colour_table, Mapping):
        items = [(_colour_key(c), i) for c, i in colour_table.items()]
    else:
        items = [(c, i) for i, c in enumerate(colour_table)]
    if not items:
        raise ValueError(f"{option_name('colour_table')} is empty.")
    return items


def _colour_key(colour):
    return tuple(colour.replace(" ", "").split(",")) if isinstance(colour, str) else colour


def _colour_table_from_text(text):
    what = option_name("colour_table")
    if os.path.isfile(text):
        with open(text) as f:
            body = f.read()
        if text.lower().endswith(".json"):
            try:
                return json.loads(body)
            except json.JSONDecodeError as error:
                raise ValueError(f"{what} file {text}: not valid JSON ({error}).") from None
        rows = [line.split()[:3] for line in body.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
        if any(len(r) != 3 for r in rows):
            raise ValueError(f"{what} file {text}: every line must be 'R G B [name]'.")
        return rows
    if not any(ch.isdigit() for ch in text) or "," not in text:
        raise ValueError(f"{what} {text!r} is neither a file nor 'R,G,B=ID;R,G,B=ID'.")
    entries = [e.strip() for e in text.split(";") if e.strip()]
    if all("=" in e for e in entries):
        table = {}
        for entry in entries:
            colour, _, cid = entry.partition("=")
            table[colour] = int(cid) if cid.strip().isdigit() else cid.strip()
        return table
    if any("=" in e for e in entries):
        raise ValueError(f"{what} {text!r}: give every entry an id (R,G,B=ID) or none.")
    return [e.split(",") for e in entries]


def _colour_table_arrays(colour_table):
    """colour_table: any form :func:`parse_colour_table` takes."""
    what = option_name("colour_table")
    keys, values = [], []
    for colour, cid in parse_colour_table(colour_table):
        try:
            c = tuple(int(v) for v in colour)
        except (TypeError, ValueError):
            c = ()
        if len(c) != 3 or not all(0 <= v <= 255 for v in c):
            raise ValueError(f"{what} entry {colour!r} is not an (r, g, b) triple of 0..255.")
        if not is_int(cid) or cid < 0:
            raise ValueError(f"{what} entry {colour!r}: class id {cid!r} is not an int >= 0.")
        keys.append((c[0] << 16) | (c[1] << 8) | c[2])
        values.append(int(cid))
    if len(set(keys)) != len(keys):
        raise ValueError(f"{what} lists the same colour twice.")
    return np.array(keys, np.int64), np.array(values, np.int32)


def pack_rgb_np(raw):
    """uint8 ``[..., 3]`` -> int64 ``[...]`` as ``r<<16 | g<<8 | b``."""
    raw = np.asarray(raw).astype(np.int64)
    return (raw[..., 0] << 16) | (raw[..., 1] << 8) | raw[..., 2]


def pack_rgb_tf(raw):
    raw = tf.cast(raw, tf.int64)
    return raw[..., 0] * 65536 + raw[..., 1] * 256 + raw[..., 2]


def check_label_map(label_map):
    """Validate ``{raw value: class id}`` (ints >= 0); returns a new dict or None."""
    if label_map is None:
        return None
    if not isinstance(label_map, Mapping) or not label_map:
        raise ValueError(f"label_map must be a non-empty dict {{raw: class_id}}; got {label_map!r}.")
    out = {}
    for k, v in label_map.items():
        if not (is_int(k) or isinstance(k, str)) or not (is_int(v) or isinstance(v, str)):
            raise ValueError(f"label_map entry {k!r}: {v!r} is not int -> int.")
        try:
            k, v = int(k), int(v)
        except ValueError:
            raise ValueError(f"label_map entry {k!r}: {v!r} is not int -> int.") from None
        if k < 0 or v < 0:
            raise ValueError(f"label_map entry {k}: {v} is negative.")
        out[k] = v
    return out


def num_classes_from_mapping(values, ignore_id):
    """1 + the largest class id among ``values`` that is not ``ignore_id`` (0 if none)."""
    ids = [int(v) for v in values if int(v) != ignore_id]
    return max(ids) + 1 if ids else 0
