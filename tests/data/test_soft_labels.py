"""Cached soft labels follow their image through the pipeline (kseg.data.soft_labels, augment_pair's extra)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kseg import data as kdata
from kseg.data.augment import AugmentConfig, augment_pair, fit_pair
from kseg.data.soft_labels import cache_file, check_unique_stems, read_index, soft_label_reader

H, W = 36, 48


def _coordinates(h, w, full=(H, W)):
    """[h, w, 2]: each pixel's centre (y, x) in the pixels of a full-size image: the same scene at any size."""
    ys = (np.arange(h) + 0.5) * full[0] / h - 0.5
    xs = (np.arange(w) + 0.5) * full[1] / w - 0.5
    return np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).astype("float32")


@pytest.mark.parametrize("rotation", [0.0, 10.0])
def test_extra_gets_the_image_scale_crop_flip_and_rotation(rotation):
    # Image channels and extra channels hold each pixel's (y, x) in full-size pixels; the extra is at half size.
    image = np.concatenate([_coordinates(H, W), np.zeros((H, W, 1), "float32")], -1)
    mask = np.zeros((H, W), "int32")
    config = AugmentConfig(scale=(0.6, 1.8), hflip=True, rotation=rotation, brightness=0.0, contrast=0.0,
                           saturation=0.0, hue=0.0)
    flips, checked = set(), 0
    for seed in range(16):
        out_image, out_mask, out_extra = (np.asarray(t) for t in augment_pair(
            image, mask, tf.constant([seed, 1]), size=(24, 32), ignore_id=255, config=config, base_scale=1.0,
            extra=_coordinates(H // 2, W // 2)))
        assert out_extra.shape == (24, 32, 2)
        inner = out_mask == 0
        for _ in range(2):  # away from the padding, where bilinear samples mix in the fill value
            inner = inner & np.roll(inner, 1, 0) & np.roll(inner, -1, 0) & np.roll(inner, 1, 1) & np.roll(inner, -1, 1)
        inner[[0, -1]] = inner[:, [0, -1]] = False
        if inner.sum() < 20:
            continue
        checked += 1
        # The same scene point within half a source pixel (the two sizes' pixel grids differ by that).
        assert np.abs(out_extra[inner] - out_image[..., :2][inner]).max() < 0.75
        flips.add(bool(out_extra[12, 20, 1] < out_extra[12, 10, 1]))
        if rotation == 0:
            assert not np.abs(out_extra[out_mask == 255]).any()  # padding: 0 logits (and an ignored label)
    assert checked >= 8 and flips == {True, False}  # flipped and unflipped crops were both checked


def test_colour_jitter_leaves_the_extra_channels_alone():
    image = np.full((H, W, 3), 120.0, "float32")
    mask = np.zeros((H, W), "int32")
    extra = np.full((H, W, 4), 7.0, "float32")
    config = AugmentConfig(scale=(1.0, 1.0), hflip=False, brightness=0.5, contrast=0.5, saturation=0.5, hue=0.1)
    out_image, _, out_extra = augment_pair(image, mask, tf.constant([3, 4]), size=(H, W), ignore_id=255,
                                           config=config, base_scale=1.0, extra=extra)
    assert not np.allclose(np.asarray(out_image), 120.0)
    np.testing.assert_allclose(np.asarray(out_extra), 7.0, atol=1e-5)


def test_fit_pair_warps_the_extra_like_the_image():
    image = np.concatenate([_coordinates(H, W), np.zeros((H, W, 1), "float32")], -1)
    out_image, out_mask, out_extra = fit_pair(image, np.zeros((H, W), "int32"), size=(H, W), ignore_id=255,
                                              extra=_coordinates(H, W))
    np.testing.assert_allclose(np.asarray(out_extra), np.asarray(out_image)[..., :2], atol=1e-4)


def _teacher(classes=3, kernel=3):
    keras.utils.set_random_seed(5)
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.Conv2D(classes, kernel, padding="same")(inputs / 255.0), name="teacher")


def _source(files, n=3, size=(H, W)):
    for i in range(n):
        rng = np.random.default_rng(i)
        files.pair(f"s{i:03d}", rng.integers(0, 256, (*size, 3)), rng.integers(0, 3, size))
    return kdata.from_folders(files.root / "images", files.root / "masks", num_classes=3)


def _write_cache(folder, source, net, scale=1.0):
    folder.mkdir()
    (folder / "index.json").write_text(json.dumps({"format": 1, "num_classes": 3}))
    for image_path, _ in source.files:
        image = tf.io.decode_png(tf.io.read_file(image_path), channels=3)
        logits = net(tf.cast(image, tf.float32)[None])[0]
        size = [round(H * scale), round(W * scale)]
        logits = tf.cast(tf.image.resize(logits, size, method="area"), tf.float16)
        tf.io.write_file(cache_file(folder, image_path), tf.io.serialize_tensor(logits))


@pytest.mark.parametrize("cache", [False, True])
def test_training_pipeline_brings_each_images_own_cached_logits(files, tmp_path, cache):
    source = _source(files)
    net = _teacher()
    _write_cache(tmp_path / "cache", source, net)
    ds = kdata.training_pipeline(source, input_size=(H, W), batch_size=3, augment=False, shuffle=True, seed=1,
                                 cache=cache, soft_labels=tmp_path / "cache")
    orders = set()
    for x, y in ds.take(1).repeat(3):
        assert set(x) == {"images", "teacher_logits"} and y.shape == (3, H, W)
        # Shuffled, yet every row's logits are the teacher's on that very image (float16 storage).
        np.testing.assert_allclose(x["teacher_logits"], net(x["images"]), atol=2e-2)
        orders.add(tuple(np.asarray(x["images"])[:, 0, 0, 0]))
    assert len(orders) > 1  # reshuffled every epoch


def test_augmented_batches_keep_images_and_logits_in_register(files, tmp_path):
    source = _source(files)
    net = _teacher(kernel=1)  # per pixel: the teacher on a (flipped) crop is the (flipped) crop of its logits
    _write_cache(tmp_path / "cache", source, net)
    config = AugmentConfig(scale=(1.0, 1.0), hflip=True, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    ds = kdata.training_pipeline(source, input_size=(24, 32), batch_size=3, augment=config, seed=2,
                                 base_scale=1.0, soft_labels=tmp_path / "cache")
    for x, _ in ds.take(2):
        # Crops at native scale, some flipped: each row's logits are the teacher's on that very crop.
        np.testing.assert_allclose(x["teacher_logits"], net(x["images"]), atol=2e-2)


def test_missing_and_foreign_caches_are_named(files, tmp_path):
    source = _source(files)
    with pytest.raises(FileNotFoundError, match="has no index.json"):
        kdata.training_pipeline(source, input_size=(H, W), batch_size=1, soft_labels=tmp_path)
    _write_cache(tmp_path / "cache", source, _teacher())
    next(iter(sorted((tmp_path / "cache").glob("s001*")))).unlink()
    with pytest.raises(FileNotFoundError, match=r"no logits for 1 of 3 training images \(.*s001\.png\)"):
        soft_label_reader(tmp_path / "cache", [f[0] for f in source.files], 3)
    with pytest.raises(ValueError, match="holds 3 classes; the data has 4"):
        soft_label_reader(tmp_path / "cache", [f[0] for f in source.files], 4)
    (tmp_path / "cache" / "index.json").write_text("{}")
    with pytest.raises(ValueError, match="is not a kseg soft-label cache"):
        read_index(tmp_path / "cache")
    plain = tf.data.Dataset.from_tensors((tf.zeros([H, W, 3], tf.uint8), tf.zeros([H, W], tf.int32)))
    with pytest.raises(ValueError, match="need file-based data"):
        kdata.training_pipeline(plain, input_size=(H, W), batch_size=1, soft_labels=tmp_path / "cache")


def test_images_sharing_a_stem_are_refused():
    with pytest.raises(ValueError, match="'a/x.png' and 'b/x.jpg' share the file stem 'x'"):
        check_unique_stems(["a/x.png", "c/y.png", "b/x.jpg"])
