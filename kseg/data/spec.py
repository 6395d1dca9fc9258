"""The data spec strings of the command line: ``synthetic``, ``camvid:PATH``..."""

from __future__ import annotations

from typing import Dict, Optional

from kseg.data.camvid import camvid
from kseg.data.folders import from_folders, from_list_file
from kseg.data.source import SegmentationData
from kseg.data.synthetic import synthetic
from kseg.data.tfds_adapters import tfds_dataset

SPEC_FORMS = (
    "synthetic",
    "camvid:PATH",
    "folder:IMAGES_DIR:MASKS_DIR",
    "list:LIST_FILE",
    "tfds:NAME",
)


def parse_label_map(text: str, *, ignore_id: int = 255) -> Dict[int, int]:
    """Parses ``"0=0,255=1"`` (``:`` also separates; ``ignore`` names the
    ignore id, e.g. ``"11=ignore"``) into ``{0: 0, 255: 1}``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"label map must be a non-empty string like '0=0,255=1'; got {text!r}.")
    out = {}
    for item in text.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        sep = "=" if "=" in item else ":"
        parts = [p.strip() for p in item.split(sep)]
        if len(parts) != 2:
            raise ValueError(f"label map entry {item!r} in {text!r} is not RAW=ID.")
        raw, cid = parts
        try:
            raw_i = int(raw)
            cid_i = ignore_id if cid.lower() == "ignore" else int(cid)
        except ValueError:
            raise ValueError(f"label map entry {item!r} in {text!r}: RAW and ID must be "
                             "integers (ID may be 'ignore').") from None
        if raw_i < 0 or cid_i < 0:
            raise ValueError(f"label map entry {item!r} in {text!r} is negative.")
        if raw_i in out:
            raise ValueError(f"label map {text!r} maps {raw_i} twice.")
        out[raw_i] = cid_i
    if not out:
        raise ValueError(f"label map {text!r} has no entries.")
    return out


def load(spec: str, split: str = "train", *, label_map: Optional[dict] = None,
         ignore_id: int = 255, **kwargs) -> SegmentationData:
    """Builds a source from a spec string.

    Forms: ``synthetic``; ``camvid:PATH`` (SegNet layout);
    ``folder:IMAGES_DIR:MASKS_DIR`` and ``list:LIST_FILE`` (``{split}`` in a
    path is replaced by ``split``); ``tfds:NAME``. ``label_map`` (a dict or a
    ``"0=0,255=1"`` string) applies to folder and list sources. Extra keyword
    arguments go to the underlying builder.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"data spec must be a non-empty string; valid forms: {', '.join(SPEC_FORMS)}.")
    kind, _, rest = spec.partition(":")
    if isinstance(label_map, str):
        label_map = parse_label_map(label_map, ignore_id=ignore_id)
    if label_map is not None and kind not in ("folder", "list"):
        from kseg.data.options import option_name

        raise ValueError(f"{option_name('label_map')} applies to folder: and list: specs, not {kind!r}.")

    def need(n_parts):
        parts = rest.split(":") if rest else []
        if len(parts) != n_parts or not all(parts):
            raise ValueError(f"Bad data spec {spec!r}; valid forms: {', '.join(SPEC_FORMS)}.")
        return [p.replace("{split}", split) for p in parts]

    if kind == "synthetic" and not rest:
        return synthetic(split=split, ignore_id=ignore_id, **kwargs)
    if kind == "camvid":
        (root,) = need(1)
        return camvid(root, split, ignore_id=ignore_id, **kwargs)
    if kind == "folder":
        images_dir, masks_dir = need(2)
        return from_folders(images_dir, masks_dir, label_map=label_map, ignore_id=ignore_id, **kwargs)
    if kind == "list":
        (list_file,) = need(1)
        return from_list_file(list_file, label_map=label_map, ignore_id=ignore_id, **kwargs)
    if kind == "tfds":
        (name,) = need(1)
        return tfds_dataset(name, split, ignore_id=ignore_id, **kwargs)
    raise ValueError(f"Unknown data spec {spec!r}; valid forms: {', '.join(SPEC_FORMS)}.")


# The mask options of file sources: which spec kinds take each, and its default.
SOURCE_OPTIONS = {
    "colour_table": (("folder", "list"), None),
    "mask_suffix": (("folder",), ""),
    "on_error": (("folder", "list", "camvid"), "raise"),
}


def source_options(spec: str, **options) -> dict:
    """The keyword arguments of ``options`` (``colour_table``, ``mask_suffix``,
    ``on_error``) that :func:`load` passes on for ``spec``.

    Options left at their defaults are dropped; one set for a spec kind that
    has no use for it is refused, naming the option as the interface in use
    spells it (``--mask-suffix`` on the command line).
    """
    from kseg.data.options import option_name

    kind = spec.partition(":")[0] if isinstance(spec, str) else ""
    out = {}
    for name, value in options.items():
        if name not in SOURCE_OPTIONS:
            raise ValueError(f"Unknown data option {name!r}; known: {', '.join(SOURCE_OPTIONS)}.")
        kinds, default = SOURCE_OPTIONS[name]
        if value is None or value == default:
            continue
        if kind not in kinds:
            raise ValueError(f"{option_name(name)} applies to {' and '.join(k + ':' for k in kinds)} data, "
                             f"not {spec!r}.")
        out[name] = value
    return out
