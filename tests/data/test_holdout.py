"""The validation hold-out of folder/list sources: stable, exact in size, disjoint from training."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from kseg import data as kd
from kseg.data.holdout import holdout_count, holdout_images, shared_files, split_holdout


def _folder(root, n, size=(12, 12)):
    for sub in ("img", "msk"):
        (root / sub).mkdir()
    for i in range(n):
        # Each image's grey value names it, so a batch tells which files it came from.
        Image.fromarray(np.full(size, i, np.uint8)).save(root / "img" / f"s{i:03d}.png")
        mask = np.zeros(size, np.uint8)
        mask[: size[0] // 2] = 1
        Image.fromarray(mask).save(root / "msk" / f"s{i:03d}.png")
    return kd.load(f"folder:{root / 'img'}:{root / 'msk'}")


def test_counts():
    assert [holdout_count(n, 0.1) for n in (2, 5, 30, 34, 35, 100)] == [1, 1, 3, 3, 4, 10]
    assert holdout_count(3, 0.9) == 2  # one image is always left to train on
    with pytest.raises(ValueError, match="cannot hold out validation images from 1 image"):
        holdout_count(1, 0.1)
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\)"):
        holdout_count(10, 0)


def test_choice_is_the_lowest_stem_hashes_whatever_the_order_and_folder():
    paths = [f"/a/s{i:03d}.png" for i in range(30)]
    expected = sorted(paths, key=lambda p: hashlib.sha1(p[3:7].encode()).hexdigest())[:3]
    assert holdout_images(paths, 0.1) == set(expected)
    assert holdout_images(paths[::-1], 0.1) == set(expected)
    moved = {p.replace("/a/", "/elsewhere/") for p in expected}
    assert holdout_images([p.replace("/a/", "/elsewhere/") for p in paths], 0.1) == moved
    # hashlib, not Python's salted hash(): these are the same on every machine and rerun.
    assert sorted(expected) == ["/a/s005.png", "/a/s021.png", "/a/s026.png"]


def test_split_is_disjoint_and_never_trained_on(tmp_path):
    data = _folder(tmp_path, 30)
    train, val = split_holdout(data, 0.1)
    assert (train.num_examples, val.num_examples) == (27, 3)
    assert {p[0] for p in train.files}.isdisjoint(p[0] for p in val.files)
    assert set(train.files) | set(val.files) == set(data.files)
    assert shared_files(train, val) == [] and len(shared_files(data, val)) == 3
    held = {int(p[0][-7:-4]) for p in val.files}
    # Every pixel of every training batch of an epoch (crops only: values unchanged) is a training image's.
    seen = set()
    for images, _ in kd.training_pipeline(train, input_size=(8, 8), batch_size=4, augment=False,
                                          base_scale=1.0, drop_remainder=False, seed=0):
        seen |= set(np.unique(images.numpy()).astype(int).tolist())
    assert seen == set(range(30)) - held
    assert sorted(int(image[0, 0, 0]) for image, _ in val.dataset.as_numpy_iterator()) == sorted(held)
    assert (val.num_classes, val.class_names) == (data.num_classes, data.class_names)
