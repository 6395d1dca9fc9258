import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import kseg.data as kd


def _mock(image_key, mask_key, masks):
    """Mock TFDS examples whose image and mask sizes match."""
    def as_dataset_fn(*args, **kwargs):
        images = [np.full(m.shape[:2] + (3,), 7, np.uint8) for m in masks]
        return tf.data.Dataset.from_generator(
            lambda: ({image_key: i, mask_key: m} for i, m in zip(images, masks)),
            output_signature={image_key: tf.TensorSpec([None, None, 3], tf.uint8),
                              mask_key: tf.TensorSpec([None, None, masks[0].shape[-1]], tf.uint8)})
    return tfds.testing.mock_data(num_examples=len(masks), as_dataset_fn=as_dataset_fn)


def _masks(data):
    return [m.numpy() for _, m in data.dataset]


@pytest.mark.parametrize("border,expected,names", [
    ("ignore", [[1, 0], [255, 1]], ("background", "pet")),
    ("class", [[1, 0], [2, 1]], ("background", "pet", "border")),
])
def test_oxford_pet_trimap(border, expected, names):
    trimap = np.array([[1, 2], [3, 1]], np.uint8)[..., None]
    with _mock("image", "segmentation_mask", [trimap]):
        data = kd.tfds_dataset("oxford_iiit_pet", "train", border=border)
        (mask,) = _masks(data)
    np.testing.assert_array_equal(mask, expected)
    assert data.class_names == names and data.num_classes == len(names)


def test_scene_parse150_shifts_ids_and_ignores_zero():
    ann = np.repeat(np.array([[0, 1], [150, 42]], np.uint8)[..., None], 3, -1)
    with _mock("image", "annotation", [ann]):
        data = kd.tfds_dataset("scene_parse150", "train")
        (mask,) = _masks(data)
    np.testing.assert_array_equal(mask, [[255, 0], [149, 41]])
    assert data.num_classes == 150 and data.class_names[0] == "wall" and data.palette.shape == (150, 3)


def test_scene_parse150_out_of_range_id_fails():
    ann = np.full((2, 2, 3), 151, np.uint8)
    with _mock("image", "annotation", [ann]):
        data = kd.tfds_dataset("scene_parse150", "train")
        with pytest.raises(tf.errors.InvalidArgumentError, match="tfds:scene_parse150"):
            _masks(data)


def test_cityscapes_label_ids_to_train_ids():
    label = np.array([[7, 26, 0], [33, 6, 24]], np.uint8)[..., None]
    with _mock("image_left", "segmentation_label", [label]):
        data = kd.tfds_dataset("cityscapes", "train")
        (mask,) = _masks(data)
    np.testing.assert_array_equal(mask, [[0, 13, 255], [18, 255, 11]])
    assert data.num_classes == 19 and data.class_names[13] == "car"


def test_size_mismatch_is_reported():
    def as_dataset_fn(*args, **kwargs):
        return tf.data.Dataset.from_tensors(
            {"image": np.zeros((4, 5, 3), np.uint8), "segmentation_mask": np.ones((3, 5, 1), np.uint8)})
    with tfds.testing.mock_data(as_dataset_fn=as_dataset_fn):
        data = kd.tfds_dataset("oxford_iiit_pet", "train")
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"tfds:oxford_iiit_pet:train mask: size 3x5 \(HxW\) does not match image tfds:oxford_iiit_pet:train image size 4x5"):
            _masks(data)


def test_unknown_name():
    with pytest.raises(ValueError, match="supported: oxford_iiit_pet, scene_parse150, cityscapes"):
        kd.tfds_dataset("voc", "train")
