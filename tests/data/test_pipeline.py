import keras
import numpy as np
import pytest

import kseg.data as kd


@pytest.fixture(scope="module")
def small():
    return kd.synthetic(12, image_size=(40, 48), seed=3)


def _first(ds):
    x, y = next(iter(ds))
    return x.numpy(), y.numpy()


def test_training_batches_shapes_dtypes(small):
    ds = kd.training_pipeline(small, input_size=(32, 36), batch_size=5, seed=0)
    batches = list(ds)
    assert len(batches) == 2  # drop_remainder
    x, y = batches[0]
    assert x.shape == (5, 32, 36, 3) and x.dtype == "float32"
    assert y.shape == (5, 32, 36) and y.dtype == "int32"
    assert 0.0 <= x.numpy().min() and x.numpy().max() <= 255.0 and x.numpy().max() > 1.5
    assert set(np.unique(y)) <= set(range(5)) | {255}


def test_seed_reproducible_and_epochs_differ(small):
    a = kd.training_pipeline(small, input_size=(32, 32), batch_size=4, seed=11)
    b = kd.training_pipeline(small, input_size=(32, 32), batch_size=4, seed=11)
    xa, ya = _first(a)
    xb, yb = _first(b)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    xa2, _ = _first(a)  # second epoch: new shuffle and new augmentation
    assert not np.array_equal(xa, xa2)


def test_no_augment_no_shuffle_is_fit_and_pad(small):
    ds = kd.training_pipeline(small, input_size=(40, 60), batch_size=1, augment=False,
                              shuffle=False)
    x, y = _first(ds)
    img, mask = next(iter(small))
    np.testing.assert_array_equal(y[0, :, 6:54], mask.numpy())
    assert (y[0, :, :6] == 255).all() and (y[0, :, 54:] == 255).all()
    np.testing.assert_allclose(x[0, :, 6:54], img.numpy().astype(np.float32), atol=1e-3)


def test_cache_and_plain_tf_dataset(small):
    ds = kd.training_pipeline(small.dataset, input_size=(24, 24), batch_size=3, cache=True,
                              drop_remainder=False)
    assert sum(int(x.shape[0]) for x, _ in ds) == 12


def test_preprocess_by_backbone_name(small):
    raw = kd.training_pipeline(small, input_size=(32, 32), batch_size=2, augment=False,
                               shuffle=False)
    pre = kd.training_pipeline(small, input_size=(32, 32), batch_size=2, augment=False,
                               shuffle=False, preprocess="resnet50")
    x, _ = _first(raw)
    xp, _ = _first(pre)
    expected = keras.applications.resnet.preprocess_input(x.copy())  # caffe: BGR, mean-subtracted
    np.testing.assert_allclose(xp, expected, atol=1e-3)
    xm, _ = _first(kd.training_pipeline(small, input_size=(32, 32), batch_size=2, augment=False,
                                        shuffle=False, preprocess="mobilenet_v2"))
    np.testing.assert_allclose(xm, x / 127.5 - 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="Unknown preprocess backbone 'nope'"):
        kd.training_pipeline(small, input_size=(32, 32), batch_size=2, preprocess="nope")


def test_argument_errors(small):
    with pytest.raises(ValueError, match="input_size"):
        kd.training_pipeline(small, input_size=32, batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        kd.training_pipeline(small, input_size=(32, 32), batch_size=0)
    with pytest.raises(TypeError, match="SegmentationData or a tf.data.Dataset"):
        kd.training_pipeline([1, 2], input_size=(32, 32), batch_size=2)


def test_eval_pipeline_full_resolution_and_padding(small):
    x, y = _first(kd.eval_pipeline(small))
    img, mask = next(iter(small))
    assert x.shape == (1, 40, 48, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(y[0], mask.numpy())
    x, y = _first(kd.eval_pipeline(small, batch_size=4, pad_to_multiple=32))
    assert x.shape == (4, 64, 64, 3) and y.shape == (4, 64, 64)
    assert (y[:, 40:] == 255).all() and (y[:, :, 48:] == 255).all() and (x[:, 40:] == 0).all()
    np.testing.assert_array_equal(y[0, :40, :48], mask.numpy())
