import numpy as np
import pytest

import kseg.data as kd


def test_parse_label_map():
    assert kd.parse_label_map("0=0,255=1") == {0: 0, 255: 1}
    assert kd.parse_label_map(" 0:0 , 11=ignore ", ignore_id=99) == {0: 0, 11: 99}
    for bad in ("", "0=a", "1=2=3", "0=0,0=1", "-1=0"):
        with pytest.raises(ValueError, match="label map"):
            kd.parse_label_map(bad)


def test_load_synthetic_fields():
    data = kd.load("synthetic", "val", num_examples=3, image_size=(32, 32))
    assert data.num_examples == 3 and data.num_classes == 5 and data.ignore_id == 255
    assert data.palette.dtype == np.uint8 and data.palette.shape == (5, 3)
    image, mask = next(iter(data.dataset))
    assert image.dtype == "uint8" and image.shape == (32, 32, 3)
    assert mask.dtype == "int32" and mask.shape == (32, 32)


def test_load_folder_with_split_placeholder_and_label_map(files, rand_image):
    files.pair("a", rand_image(4, 2), np.array([[0, 255]] * 4), images="train/img", masks="train/ann")
    spec = f"folder:{files.root}/{{split}}/img:{files.root}/{{split}}/ann"
    data = kd.load(spec, "train", label_map="0=0,255=1")
    assert data.num_classes == 2
    np.testing.assert_array_equal(next(iter(data.dataset))[1].numpy()[0], [0, 1])


def test_load_list_and_camvid_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="list file"):
        kd.load(f"list:{tmp_path}/x.txt")
    with pytest.raises(FileNotFoundError, match="no train.txt"):
        kd.load(f"camvid:{tmp_path}")


@pytest.mark.parametrize("spec", ["voc", "camvid", "folder:onlyone", "synthetic:3", ""])
def test_unknown_spec_lists_valid_forms(spec):
    with pytest.raises(ValueError, match="folder:IMAGES_DIR:MASKS_DIR"):
        kd.load(spec)


def test_label_map_rejected_for_other_sources():
    with pytest.raises(ValueError, match="label_map applies"):
        kd.load("synthetic", label_map="0=0")
