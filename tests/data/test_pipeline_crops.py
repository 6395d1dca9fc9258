"""Training crops at native scale versus resizing to fit: the size objects have in pixels."""

import numpy as np
import pytest
import tensorflow as tf

from kseg import data as kd


def _square_data(n=12, size=64, side=10):
    """``n`` images of ``size``x``size`` with one ``side``x``side`` square of class 1 in the middle."""
    images = np.zeros((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), np.int32)
    lo = (size - side) // 2
    images[:, lo:lo + side, lo:lo + side] = 200
    masks[:, lo:lo + side, lo:lo + side] = 1
    return tf.data.Dataset.from_tensor_slices((images, masks))


def _tallest(ds):
    """The tallest column of class 1 over every batch: the square's side in pixels."""
    return max(int((m == 1).sum(axis=-2).max()) for _, m in ds.as_numpy_iterator())


@pytest.mark.parametrize("augment", [False, kd.AugmentConfig(scale=(1.0, 1.0))])
def test_native_crops_keep_the_object_size_and_fit_shrinks_it(augment):
    kwargs = dict(input_size=(32, 32), batch_size=4, augment=augment, seed=0, drop_remainder=False)
    assert _tallest(kd.training_pipeline(_square_data(), base_scale=1.0, **kwargs)) == 10
    # Half scale (align-corners sampling: 10 pixels become 4 or 5), and fitting 64 into 32: half scale too.
    assert _tallest(kd.training_pipeline(_square_data(), base_scale=0.5, **kwargs)) in (4, 5)
    assert _tallest(kd.training_pipeline(_square_data(), base_scale="fit", **kwargs)) in (4, 5)
    assert _tallest(kd.eval_pipeline(_square_data())) == 10  # evaluation: full resolution
    assert _tallest(kd.eval_pipeline(_square_data(), scale=0.5)) == 5


def test_crop_only_copies_pixels_and_pads_small_images_with_ignore():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (1, 20, 40, 3), dtype=np.uint8)
    mask = rng.integers(0, 3, (1, 20, 40)).astype(np.int32)
    ds = tf.data.Dataset.from_tensor_slices((image, mask))
    x, y = next(iter(kd.training_pipeline(ds, input_size=(32, 32), batch_size=1, augment=False, base_scale=1.0,
                                          seed=3)))
    x, y = x.numpy()[0], y.numpy()[0]
    rows = np.flatnonzero((y != 255).any(axis=1))
    cols = np.flatnonzero((y != 255).any(axis=0))
    assert (len(rows), len(cols)) == (20, 32)  # the 20-row image is padded, 32 of its 40 columns cropped
    top, left = rows[0], cols[0]
    offset = [c for c in range(9) if np.array_equal(y[top:top + 20], mask[0, :, c:c + 32])]
    assert len(offset) >= 1
    np.testing.assert_allclose(x[top:top + 20], image[0, :, offset[0]:offset[0] + 32], atol=1e-3)
    assert (x[:top] == 0).all() and (y[:top] == 255).all()


def test_bad_base_scale():
    with pytest.raises(ValueError, match="base_scale must be 'fit' or a number in"):
        kd.training_pipeline(_square_data(), input_size=(32, 32), batch_size=1, base_scale="native")
    with pytest.raises(ValueError, match="base_scale must be 'fit' or a number in"):
        kd.training_pipeline(_square_data(), input_size=(32, 32), batch_size=1, base_scale=0)
