import logging

import numpy as np
import pytest
import tensorflow as tf

import kseg.data as kd


def _all(data):
    return [(i.numpy(), m.numpy()) for i, m in data.dataset]


def test_index_masks_pair_by_stem_and_keep_values(files, rand_image):
    masks = {}
    for k, stem in enumerate(["b", "a", "c"]):
        masks[stem] = (np.arange(20 * 24).reshape(20, 24) + k) % 4
        masks[stem][0, 0] = 255
        files.pair(stem, rand_image(20, 24, k), masks[stem])
    data = kd.from_folders(files.root / "images", files.root / "masks")
    assert data.num_examples == 3 and data.num_classes == 4  # inferred, 255 = ignore
    assert [p[0].rsplit("/", 1)[1] for p in data.files] == ["a.png", "b.png", "c.png"]
    out = _all(data)
    for (img, mask), stem, k in zip(out, "abc", (1, 0, 2)):
        assert img.dtype == np.uint8 and img.shape == (20, 24, 3)
        assert mask.dtype == np.int32
        np.testing.assert_array_equal(mask, masks[stem])
        np.testing.assert_array_equal(img, rand_image(20, 24, k))


def test_grayscale_jpeg_images_expand_to_rgb(files):
    gray = np.tile(np.arange(0, 240, 10, dtype=np.uint8), (16, 1))
    files.image("images", "x.jpg", gray, quality=100)
    files.image("masks", "x.png", np.zeros((16, 24)))
    (img, mask), = _all(kd.from_folders(files.root / "images", files.root / "masks", num_classes=2))
    assert img.shape == (16, 24, 3)
    np.testing.assert_array_equal(img[..., 0], img[..., 2])
    assert np.abs(img[..., 0].astype(int) - gray).max() <= 3


def test_palette_mask_gives_palette_indices(files, rand_image):
    idx = np.array([[0, 1, 2], [2, 255, 0]])
    # Index 2 and 0 share a colour: decoding colours would confuse them.
    files.image("images", "p.png", rand_image(2, 3))
    files.palette_mask("masks", "p.png", idx, [[0, 0, 0], [128, 0, 0], [0, 0, 0]])
    data = kd.from_folders(files.root / "images", files.root / "masks", num_classes=3)
    np.testing.assert_array_equal(_all(data)[0][1], idx)


def test_rgb_mask_with_colour_table(files, rand_image):
    table = {(0, 0, 0): 0, (255, 0, 0): 1, (0, 255, 0): 2, (255, 255, 255): 255}
    ids = np.array([[0, 1], [2, 255]])
    lut = {v: k for k, v in table.items()}
    rgb = np.array([[lut[v] for v in row] for row in ids], np.uint8)
    files.image("images", "r.png", rand_image(2, 2))
    files.image("masks", "r.png", rgb)
    data = kd.from_folders(files.root / "images", files.root / "masks", colour_table=table)
    assert data.num_classes == 3
    np.testing.assert_array_equal(_all(data)[0][1], ids)


def test_binary_mask_with_label_map(files, rand_image):
    raw = np.array([[0, 255], [255, 0]])
    files.pair("m", rand_image(2, 2), raw)
    data = kd.from_folders(files.root / "images", files.root / "masks",
                           label_map=kd.parse_label_map("0=0,255=1"))
    assert data.num_classes == 2
    np.testing.assert_array_equal(_all(data)[0][1], [[0, 1], [1, 0]])


def test_list_file_reader(files, rand_image):
    files.pair("a", rand_image(4, 4), np.ones((4, 4)), images="imgs", masks="ann")
    files.pair("b", rand_image(4, 4, 1), np.zeros((4, 4)), images="imgs", masks="ann")
    (files.root / "train.txt").write_text("imgs/b.png ann/b.png\n\nimgs/a.png ann/a.png\n")
    data = kd.from_list_file(files.root / "train.txt", num_classes=2)
    masks = [m for _, m in _all(data)]
    assert [int(m[0, 0]) for m in masks] == [0, 1]  # list order kept


# ---------------------------------------------------------------- bad input


def _expect(match, fn, *args, exc=kd.DataError, **kw):
    with pytest.raises(exc, match=match) as info:
        fn(*args, **kw)
    return str(info.value)


def test_empty_folder(files):
    files.dir("images"), files.dir("masks")
    _expect("no PNG/JPEG images", kd.from_folders, files.root / "images", files.root / "masks")


def test_missing_folder(files):
    _expect("is not a directory", kd.from_folders, files.root / "nope", files.root / "masks",
            exc=FileNotFoundError)


def test_image_without_mask_and_mask_without_image(files, rand_image):
    files.pair("ok", rand_image(4, 4), np.zeros((4, 4)))
    files.image("images", "lonely.png", rand_image(4, 4))
    files.image("masks", "orphan.png", np.zeros((4, 4)))
    msg = _expect("2 bad", kd.from_folders, files.root / "images", files.root / "masks")
    assert "lonely.png: image without mask" in msg
    assert "orphan.png: mask without image" in msg


def test_corrupt_and_truncated_images(files, rand_image):
    files.pair("ok", rand_image(8, 8), np.zeros((8, 8)))
    img, _ = files.pair("trunc", rand_image(8, 8), np.zeros((8, 8)))
    img.write_bytes(img.read_bytes()[:-30])
    img, _ = files.pair("garbage", rand_image(8, 8), np.zeros((8, 8)))
    img.write_bytes(b"not an image at all")
    jpg = files.image("images", "cut.jpg", rand_image(32, 32))
    jpg.write_bytes(jpg.read_bytes()[:-200])
    files.image("masks", "cut.png", np.zeros((32, 32)))
    msg = _expect("3 bad", kd.from_folders, files.root / "images", files.root / "masks")
    for name in ("trunc.png", "garbage.png", "cut.jpg"):
        assert f"{name}: corrupt or truncated image" in msg or f"{name}: truncated image" in msg


def test_size_mismatch(files, rand_image):
    files.image("images", "s.png", rand_image(8, 10))
    files.image("masks", "s.png", np.zeros((8, 9)))
    _expect(r"s\.png: size 9x8 \(WxH\) does not match image", kd.from_folders,
            files.root / "images", files.root / "masks")


def test_wrong_channel_counts(files, rand_image):
    files.image("images", "rgba.png", rand_image(4, 4, channels=4))
    files.image("masks", "rgba.png", np.zeros((4, 4)))
    files.image("images", "m.png", rand_image(4, 4))
    files.image("masks", "m.png", rand_image(4, 4))  # RGB mask, no colour table
    msg = _expect("2 bad", kd.from_folders, files.root / "images", files.root / "masks")
    assert "rgba.png: image mode RGBA has the wrong channel count" in msg
    assert "m.png: mask mode RGB has the wrong channel count" in msg and "colour_table" in msg


def test_jpeg_mask_rejected(files, rand_image):
    files.image("images", "j.png", rand_image(4, 4))
    files.image("masks", "j.jpg", np.zeros((4, 4)))
    _expect("masks must be PNG", kd.from_folders, files.root / "images", files.root / "masks")


def test_mask_id_out_of_range_fails_at_first_batch_naming_file(files, rand_image):
    files.pair("good", rand_image(4, 4), np.zeros((4, 4)))
    mask = np.zeros((4, 4))
    mask[1, 2] = 7
    files.pair("bad", rand_image(4, 4), mask)
    data = kd.from_folders(files.root / "images", files.root / "masks", num_classes=3)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        next(iter(kd.training_pipeline(data, input_size=(4, 4), batch_size=2, shuffle=False)))
    text = str(info.value)
    assert "bad.png" in text and "num_classes=3" in text and "[7]" in text


def test_unmapped_label_value_fails_naming_file(files, rand_image):
    files.pair("u", rand_image(2, 2), np.array([[0, 255], [128, 0]]))
    data = kd.from_folders(files.root / "images", files.root / "masks", label_map={0: 0, 255: 1})
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"u\.png: mask value 128 not in label_map"):
        _all(data)


def test_skip_reports_bad_pairs(files, rand_image, caplog):
    files.pair("good", rand_image(4, 4), np.zeros((4, 4)))
    bad = np.zeros((4, 4))
    bad[0, 0] = 9
    files.pair("badid", rand_image(4, 4), bad)
    files.image("images", "nomask.png", rand_image(4, 4))
    img, _ = files.pair("trunc", rand_image(8, 8), np.zeros((8, 8)))
    img.write_bytes(img.read_bytes()[:-30])
    with caplog.at_level(logging.WARNING, logger="kseg.data"):
        data = kd.from_folders(files.root / "images", files.root / "masks", num_classes=2,
                               on_error="skip")
    assert data.num_examples == 1 and len(_all(data)) == 1
    reasons = " ".join(r for _, r in data.skipped)
    assert len(data.skipped) == 3
    assert "badid.png" in reasons and "nomask.png" in reasons and "trunc.png" in reasons
    assert "Skipping 3 bad" in caplog.text


def test_skip_with_nothing_left_still_raises(files, rand_image):
    files.image("images", "a.png", rand_image(4, 4))
    files.image("masks", "b.png", np.zeros((4, 4)))
    _expect("no usable", kd.from_folders, files.root / "images", files.root / "masks",
            on_error="skip")


def test_bad_arguments(files, rand_image):
    files.pair("a", rand_image(4, 4), np.zeros((4, 4)))
    d = (files.root / "images", files.root / "masks")
    _expect("on_error", kd.from_folders, *d, on_error="ignore", exc=ValueError)
    _expect("not both", kd.from_folders, *d, label_map={0: 0}, colour_table=[(0, 0, 0)],
            exc=ValueError)
    _expect("collides", kd.from_folders, *d, num_classes=3, ignore_id=1, exc=ValueError)
