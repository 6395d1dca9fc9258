import numpy as np
import pytest

import kseg.data as kd


@pytest.mark.parametrize("split,count", [("train", 367), ("val", 101), ("test", 233)])
def test_camvid_counts_and_metadata(camvid_root, split, count):
    data = kd.camvid(camvid_root, split)
    assert data.num_examples == count == len(data.files)
    assert data.num_classes == 11 and data.class_names[0] == "sky" and data.class_names[10] == "bicyclist"
    assert data.palette.shape == (11, 3) and data.ignore_id == 255


def test_camvid_void_becomes_ignore(camvid_root):
    data = kd.camvid(camvid_root, "val")
    from PIL import Image
    raw = np.asarray(Image.open(data.files[0][1]))
    image, mask = next(iter(data.dataset))
    assert image.shape == (360, 480, 3) and mask.shape == (360, 480)
    mask = mask.numpy()
    np.testing.assert_array_equal(mask, np.where(raw == 11, 255, raw))
    assert (raw == 11).any() and set(np.unique(mask)) <= set(range(11)) | {255}


def test_camvid_median_frequency_weights_close_to_segnet(camvid_root):
    w = kd.class_weights(kd.camvid(camvid_root, "train"), 11)
    ratio = w / kd.SEGNET_CLASS_WEIGHTS
    # 10 of 11 classes within 20% of SegNet's published weights; sign_symbol
    # differs (see benchmarks/RESULTS.md / issue 5 report).
    assert (np.abs(ratio - 1) < 0.2).sum() >= 10
    assert np.argsort(w).tolist()[:3] == np.argsort(kd.SEGNET_CLASS_WEIGHTS).tolist()[:3]


def test_camvid_trainval_is_train_then_val(camvid_root):
    train, val = kd.camvid(camvid_root, "train"), kd.camvid(camvid_root, "val")
    both = kd.camvid(camvid_root, "trainval")
    assert both.num_examples == kd.CAMVID_SPLIT_SIZES["trainval"] == 468
    assert both.files == train.files + val.files
    assert both.name.endswith(":trainval") and both.class_names == train.class_names
    with pytest.raises(ValueError, match="CamVid split must be one of .*'trainval'.*; got 'train\\+val'"):
        kd.camvid(camvid_root, "train+val")
