"""training_pipeline and eval_pipeline refuse datasets whose pairs would train
on a plausible but wrong answer: float images, float or [H, W, 1] masks, masks
of another size than their image."""

import numpy as np
import pytest
import tensorflow as tf

import kseg.data as kd

PIPELINES = [
    lambda ds: kd.training_pipeline(ds, input_size=(8, 8), batch_size=1, shuffle=False),
    lambda ds: kd.eval_pipeline(ds),
]


def _pairs(image, mask):
    return tf.data.Dataset.from_tensors((image, mask))


@pytest.mark.parametrize("make", PIPELINES)
@pytest.mark.parametrize("image,mask,match", [
    (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.int32),
     r"data: images must be uint8 \[H, W, C\] raw pixels 0\.\.255; got float32"),
    (np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.int32), r"images must be uint8 \[H, W, C\].*\(8, 8\)"),
    (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.float32),
     r"data: masks must be integer class ids \[H, W\]; got float32"),
    (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 1), np.int32), r"masks must be .*\(8, 8, 1\)"),
])
def test_bad_dtypes_and_ranks_fail_when_built(make, image, mask, match):
    with pytest.raises(ValueError, match=match):
        make(_pairs(image, mask))


@pytest.mark.parametrize("make", PIPELINES)
def test_mask_of_another_size_fails_naming_both_sizes(make):
    ds = make(_pairs(np.zeros((8, 8, 3), np.uint8), np.zeros((6, 8), np.int32)))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"data mask: size 6x8 \(HxW\) does not match image data image size 8x8"):
        next(iter(ds))


def test_good_pairs_pass_unchanged():
    image = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    mask = np.arange(64, dtype=np.uint8).reshape(8, 8) % 3
    x, y = next(iter(kd.eval_pipeline(_pairs(image, mask))))
    np.testing.assert_array_equal(x.numpy()[0], image.astype(np.float32))
    np.testing.assert_array_equal(y.numpy()[0], mask)
    assert y.dtype == tf.int32
