"""Mask options the same in Python, config and CLI: colour tables, mask suffix, skipping,
palette masks, 16-bit masks; errors name the option as the interface in use spells it."""

import json

import numpy as np
import pytest
from PIL import Image

from kseg.data import DataError, from_folders, load, source_options
from kseg.data.mask_codec import MaskCodec
from kseg.data.options import option_style

COLOURS = {(0, 0, 0): 0, (0, 0, 255): 1, (255, 255, 0): 2}
IDS = np.array([[0, 1, 2, 1], [2, 2, 0, 1]], np.uint8)


def _image(path, size=(2, 4)):
    Image.fromarray(np.full((*size, 3), 90, np.uint8)).save(path)


def _folder(root, masks, suffix=""):
    (root / "im").mkdir()
    (root / "gt").mkdir()
    for stem, mask in masks.items():
        _image(root / "im" / f"{stem}.png")
        mask.save(root / "gt" / f"{stem}{suffix}.png")
    return root / "im", root / "gt"


def _rgb_mask(ids=IDS):
    table = {v: k for k, v in COLOURS.items()}
    return Image.fromarray(np.array([[table[i] for i in row] for row in ids], np.uint8))


@pytest.mark.parametrize("form", [
    COLOURS,
    [(0, 0, 0), (0, 0, 255), (255, 255, 0)],
    "0,0,0=0; 0,0,255=1; 255,255,0=2",
    "0,0,0;0,0,255;255,255,0",
    "json", "txt",
])
def test_colour_table_forms_agree(tmp_path, form):
    if form == "json":
        (tmp_path / "t.json").write_text(json.dumps({"0,0,0": 0, "0,0,255": 1, "255,255,0": 2}))
        form = str(tmp_path / "t.json")
    elif form == "txt":
        (tmp_path / "t.txt").write_text("# r g b name\n0 0 0 sky\n0 0 255 sea\n\n255 255 0 sand\n")
        form = str(tmp_path / "t.txt")
    codec = MaskCodec("rgb", colour_table=form)
    raw = np.asarray(_rgb_mask())
    np.testing.assert_array_equal(codec.map_numpy(raw), IDS)


def test_colour_table_suffix_and_skip_through_load(tmp_path):
    images, masks = _folder(tmp_path, {"s000": _rgb_mask(), "s001": _rgb_mask()}, suffix="_mask")
    (masks / "s001_mask.png").write_bytes(b"broken")
    spec = f"folder:{images}:{masks}"
    options = source_options(spec, colour_table="0,0,0=0;0,0,255=1;255,255,0=2", mask_suffix="_mask",
                             on_error="skip")
    data = load(spec, **options)
    assert data.num_examples == 1 and data.num_classes == 3 and "s001_mask.png" in data.skipped[0][0]
    _, mask = next(iter(data.dataset.as_numpy_iterator()))
    np.testing.assert_array_equal(mask, IDS)
    assert source_options("synthetic", on_error="raise", mask_suffix="", colour_table=None) == {}
    with pytest.raises(ValueError, match=r"^mask_suffix applies to folder: data, not 'list:x'\.$"):
        source_options("list:x", mask_suffix="_m")


def test_errors_name_the_option_of_the_interface(tmp_path):
    images, masks = _folder(tmp_path, {"a": _rgb_mask()})
    with pytest.raises(DataError, match=r"(?s)need colour_table=\.\.\.\).*pass on_error='skip' to drop them"):
        from_folders(images, masks)
    with option_style("cli"), pytest.raises(DataError, match=r"(?s)need --colour-table\).*pass --on-error skip to"):
        from_folders(images, masks)
    with option_style("cli"), pytest.raises(ValueError, match=r"^--colour-table entry \('1', '2'\) is not"):
        MaskCodec("rgb", colour_table="1,2=0")


def test_palette_masks_keep_indexes_and_draw_in_palette_colours(tmp_path):
    mask = Image.fromarray(IDS, mode="P")
    mask.putpalette([0, 0, 0, 0, 0, 255, 255, 255, 0] + [7] * 759)  # class 1 blue, class 2 yellow
    images, masks = _folder(tmp_path, {"a": mask})
    data = from_folders(images, masks)
    assert data.num_classes == 3
    np.testing.assert_array_equal(data.palette, [[0, 0, 0], [0, 0, 255], [255, 255, 0]])
    _, ids = next(iter(data.dataset.as_numpy_iterator()))
    np.testing.assert_array_equal(ids, IDS)
    np.testing.assert_array_equal(data.colorize(ids)[0, 1], [0, 0, 255])


def test_16bit_masks_without_label_map_list_values_and_suggest_one(tmp_path):
    raw = (IDS.astype(np.uint16) * 1000)
    images, masks = _folder(tmp_path, {"a": Image.fromarray(raw)})
    with pytest.raises(DataError, match=r"^The masks hold the values 0, 1000, 2000: read as class ids they would "
                                        r"make 2001 classes and run into the ignore id 255\. Number them with a "
                                        r"label map, e\.g\. label_map=\{0: 0, 1000: 1, 2000: 2\}$"):
        from_folders(images, masks)
    with option_style("cli"), pytest.raises(DataError, match=r"e\.g\. --label-map 0=0,1000=1,2000=2$"):
        from_folders(images, masks)
    data = from_folders(images, masks, label_map={0: 0, 1000: 1, 2000: 2})
    np.testing.assert_array_equal(next(iter(data.dataset.as_numpy_iterator()))[1], IDS)
