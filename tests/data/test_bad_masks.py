"""Mask values the mapping does not know, and ids that are no class, fail naming
the mask on every path that maps masks; nothing is clipped onto a real class."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

import kseg.data as kd
from kseg.data.folders import MaskCodec, map_and_check

BINARY = {0: 0, 255: 1}


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _pair(root, stem, mask, *, size=(4, 5)):
    image = np.full(size + (3,), 9, np.uint8)
    _write(root / "images" / f"{stem}.png", image)
    return _write(root / "masks" / f"{stem}.png", mask)


def _mask(dtype, bad_value):
    mask = np.zeros((4, 5), dtype)
    mask[0, :2] = 255
    mask[2, 3] = bad_value
    return mask


def _decode_all(data):
    return [m.numpy() for _, m in data.dataset]


# Each case: mask dtype, the stray raw value. 300 on a 16-bit mask was once
# clipped into the 256-entry table and became class 1.
CASES = [(np.uint16, 300), (np.uint16, 256), (np.uint16, 65535), (np.uint8, 7), (np.uint8, 254)]


@pytest.mark.parametrize("dtype,bad", CASES)
def test_unknown_value_fails_in_the_pipeline_like_full_validation(tmp_path, dtype, bad):
    mask_path = _pair(tmp_path, "m", _mask(dtype, bad))
    message = f"{mask_path}: mask value {bad} not in label_map."
    data = kd.from_folders(tmp_path / "images", tmp_path / "masks", label_map=BINARY)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        _decode_all(data)
    assert message in str(info.value)
    with pytest.raises(kd.DataError) as info:
        kd.from_folders(tmp_path / "images", tmp_path / "masks", label_map=BINARY, validate="full")
    assert message in str(info.value)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_known_values_still_map(tmp_path, dtype):
    mask = _mask(dtype, 0)
    _pair(tmp_path, "m", mask)
    data = kd.from_folders(tmp_path / "images", tmp_path / "masks", label_map=BINARY)
    (got,) = _decode_all(data)
    np.testing.assert_array_equal(got, (mask == 255).astype(np.int32))


def test_list_file_path_fails_the_same(tmp_path):
    mask_path = _pair(tmp_path, "a", _mask(np.uint16, 300))
    (tmp_path / "train.txt").write_text("images/a.png masks/a.png\n")
    data = kd.from_list_file(tmp_path / "train.txt", label_map=BINARY)
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask value 300 not in label_map") as info:
        _decode_all(data)
    assert str(mask_path) in str(info.value)


def test_skip_drops_the_bad_mask_and_names_it(tmp_path):
    _pair(tmp_path, "good", _mask(np.uint16, 0))
    bad = _pair(tmp_path, "bad", _mask(np.uint16, 300))
    data = kd.from_folders(tmp_path / "images", tmp_path / "masks", label_map=BINARY,
                           on_error="skip")
    assert data.num_examples == 1
    assert data.skipped == ((str(bad), f"{bad}: mask value 300 not in label_map."),)


def test_unknown_colour_fails_naming_it(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[1, 1] = (10, 20, 30)
    mask_path = _pair(tmp_path, "c", rgb)
    data = kd.from_folders(tmp_path / "images", tmp_path / "masks",
                           colour_table={(0, 0, 0): 0, (255, 0, 0): 1})
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        _decode_all(data)
    assert f"{mask_path}: mask colour (10, 20, 30) not in colour_table." in str(info.value)


def test_id_outside_num_classes_names_mask_and_id(tmp_path):
    mask = np.zeros((4, 5), np.uint16)
    mask[3, 4] = 1000
    mask_path = _pair(tmp_path, "n", mask)
    data = kd.from_folders(tmp_path / "images", tmp_path / "masks", num_classes=4)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        _decode_all(data)
    assert (f"{mask_path}: mask id(s) [1000] outside [0, num_classes=4) and not the ignore id 255."
            in str(info.value))


def test_negative_ids_fail_in_map_and_check():
    # PNGs hold no negative values; a TFDS builder with signed masks could.
    raw = tf.constant([[0, -3], [1, 255]], tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"src: mask id\(s\) \[-3\] outside \[0, num_classes=2\)"):
        map_and_check(raw, MaskCodec("index"), num_classes=2, ignore_id=255, source="src")
    np.testing.assert_array_equal(
        map_and_check(tf.constant([[0, 1], [255, 1]]), MaskCodec("index"), num_classes=2,
                      ignore_id=255, source="src").numpy(), [[0, 1], [255, 1]])


def test_codec_maps_above_and_below_the_table_to_unmapped():
    codec = MaskCodec("index", label_map=BINARY)
    raw = np.array([-1, 0, 1, 254, 255, 256, 300, 65535])
    expected = [-1, 0, -1, -1, 1, -1, -1, -1]
    np.testing.assert_array_equal(codec.map_numpy(raw), expected)
    np.testing.assert_array_equal(codec.map_tf(tf.constant(raw)).numpy(), expected)


@pytest.mark.parametrize("label_map,match", [
    ({0.5: 1}, "0.5: 1 is not int -> int"),
    ({0: 1.7}, "0: 1.7 is not int -> int"),
    ({-1: 0}, "-1: 0 is negative"),
])
def test_label_map_entries_are_not_truncated(label_map, match):
    with pytest.raises(ValueError, match=match):
        MaskCodec("index", label_map=label_map)


def test_colour_table_class_ids_must_be_ints():
    with pytest.raises(ValueError, match=r"class id 1\.5 is not an int >= 0"):
        MaskCodec("rgb", colour_table={(0, 0, 0): 1.5})


def _mock(image_key, mask_key, mask):
    def as_dataset_fn(*args, **kwargs):
        image = np.zeros(mask.shape[:2] + (3,), np.uint8)
        return tf.data.Dataset.from_tensors({image_key: image, mask_key: mask})
    return tfds.testing.mock_data(num_examples=1, as_dataset_fn=as_dataset_fn)


@pytest.mark.parametrize("name,image_key,mask_key,mask,message", [
    ("oxford_iiit_pet", "image", "segmentation_mask", np.array([[1, 4]], np.uint8)[..., None],
     "tfds:oxford_iiit_pet:train: mask value 4 not in label_map."),
    ("oxford_iiit_pet", "image", "segmentation_mask", np.array([[1, 255]], np.uint8)[..., None],
     "tfds:oxford_iiit_pet:train: mask value 255 not in label_map."),
    ("scene_parse150", "image", "annotation", np.full((1, 2, 3), 200, np.uint8),
     "tfds:scene_parse150:train: mask value 200 not in label_map."),
])
def test_tfds_adapters_fail_on_unknown_values(name, image_key, mask_key, mask, message):
    with _mock(image_key, mask_key, mask):
        data = kd.tfds_dataset(name, "train")
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            _decode_all(data)
    assert message in str(info.value)


def test_colorize_draws_negative_and_stray_ids_white_not_as_a_class():
    palette = np.array([[10, 20, 30], [40, 50, 60]], np.uint8)
    data = kd.SegmentationData(dataset=tf.data.Dataset.range(1), num_classes=2,
                               class_names=("a", "b"), palette=palette)
    out = data.colorize(np.array([[0, 1, -1], [255, 7, 300]]))
    white = [255, 255, 255]
    np.testing.assert_array_equal(out, [[palette[0], palette[1], white], [white, white, white]])
