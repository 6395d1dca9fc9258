import numpy as np
import pytest
import tensorflow as tf

import kseg.data as kd


def test_synthetic_deterministic_and_splits_differ():
    a = kd.synthetic(4, image_size=(48, 40), seed=5)
    b = kd.synthetic(4, image_size=(48, 40), seed=5)
    c = kd.synthetic(4, image_size=(48, 40), seed=5, split="val")
    for (ia, ma), (ib, mb), (ic, _) in zip(a, b, c):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ma, mb)
        assert not np.array_equal(ia, ic)
    assert a.num_examples == 4 and a.class_names[1] == "disc"


def test_synthetic_class_coverage_and_colour_is_not_enough():
    data = kd.synthetic(64, image_size=(64, 64), num_classes=5, seed=0)
    images = np.stack([i.numpy() for i, _ in data]).reshape(-1, 3).astype(float)
    masks = np.stack([m.numpy() for _, m in data]).reshape(-1)
    assert set(np.unique(masks)) == {0, 1, 2, 3, 4}
    # Nearest-class-mean colour classifier: it must fall well short of a
    # perfect score, or the data would be trivial.
    means = np.stack([images[masks == c].mean(0) for c in range(5)])
    pred = np.argmin(((images[:, None] - means[None]) ** 2).sum(-1), 1)
    ious = [((pred == c) & (masks == c)).sum() / ((pred == c) | (masks == c)).sum() for c in range(5)]
    assert np.mean(ious) < 0.6


def test_synthetic_ignore_boundaries():
    data = kd.synthetic(2, image_size=(32, 32), ignore_boundaries=True, ignore_id=200)
    assert 200 in np.unique(next(iter(data))[1])


@pytest.mark.parametrize("kw", [dict(num_classes=7), dict(image_size=(8, 8)), dict(split="dev"),
                                dict(num_examples=0)])
def test_synthetic_bad_args(kw):
    with pytest.raises(ValueError):
        kd.synthetic(**{"num_examples": 2, **kw})


def _pairs(masks):
    return tf.data.Dataset.from_tensor_slices(
        (np.zeros((len(masks), 2, 3, 3), np.uint8), np.array(masks, np.int32)))


def test_class_weights_hand_computed():
    masks = [[[0, 0, 0], [0, 1, 255]], [[0, 2, 2], [2, 2, 2]]]
    # pixels: c0 = 5, c1 = 1, c2 = 5; labelled pixels of images containing c:
    # c0 = 5 + 6, c1 = 5, c2 = 6.
    freq = np.array([5 / 11, 1 / 5, 5 / 6])
    expected = np.median(freq) / freq
    np.testing.assert_allclose(kd.class_weights(_pairs(masks), 3), expected, rtol=1e-6)
    inv = kd.class_weights(_pairs(masks), 3, method="inverse_frequency")
    np.testing.assert_allclose(inv, 11 / (3 * np.array([5, 1, 5])), rtol=1e-6)
    # Batched input gives the same numbers.
    np.testing.assert_allclose(kd.class_weights(_pairs(masks).batch(2), 3), expected, rtol=1e-6)


def test_class_weights_power_softens():
    masks = [[[0, 0, 0], [0, 1, 255]], [[0, 2, 2], [2, 2, 2]], [[3, 3, 3], [3, 3, 3]]]
    full = kd.class_weights(_pairs(masks), 5)
    assert full[4] == 0 and full[1] > 1  # class 4 absent; class 1 rare
    np.testing.assert_allclose(kd.class_weights(_pairs(masks), 5, power=0.5), np.sqrt(full), rtol=1e-6)
    np.testing.assert_allclose(kd.class_weights(_pairs(masks), 5, power=0), [1, 1, 1, 1, 0])
    for bad in (-1, 5, "half", True):
        with pytest.raises(ValueError, match="power"):
            kd.class_weights(_pairs(masks), 5, power=bad)


def test_class_weights_absent_class_and_errors(caplog):
    w = kd.class_weights(_pairs([[[0, 0, 0], [1, 1, 1]]]), 3)
    assert w[2] == 0 and "never appear" in caplog.text
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside"):
        kd.class_weights(_pairs([[[0, 0, 0], [5, 1, 1]]]), 3)
    with pytest.raises(ValueError, match="method"):
        kd.class_weights(_pairs([[[0, 0, 0], [1, 1, 1]]]), 3, method="median")
