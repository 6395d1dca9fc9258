"""kseg.data.images: one way to read image files (16-bit scaled like predict_encoded)."""

import numpy as np
import pytest
from PIL import Image

from kseg.data import from_folders
from kseg.data.images import read_image

VALUES16 = np.array([[0, 255, 256, 1000], [65535, 32768, 511, 300]], np.uint16)


def test_16bit_grayscale_is_scaled_to_8_bits(tmp_path):
    Image.fromarray(VALUES16).save(tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").mode.startswith("I;16")
    want = (VALUES16 >> 8).astype(np.uint8)
    rgb = read_image(tmp_path / "a.png")
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], want)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png", channels=1)[..., 0], want)


def test_8bit_and_palette_images(tmp_path):
    rgb = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), rgb)
    p = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), mode="P")
    p.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    p.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p.png")[0, 1], [200, 100, 50])


def test_unreadable_file_names_it(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"Cannot read image '.*bad.png'"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"missing.png'.*no such file"):
        read_image(tmp_path / "missing.png")


def test_folder_source_reads_16bit_images_scaled(tmp_path):
    (tmp_path / "im").mkdir()
    (tmp_path / "gt").mkdir()
    Image.fromarray(VALUES16).save(tmp_path / "im" / "a.png")
    Image.fromarray(np.array([[0, 1, 1, 0]] * 2, np.uint8)).save(tmp_path / "gt" / "a.png")
    data = from_folders(tmp_path / "im", tmp_path / "gt")
    image, mask = next(iter(data.dataset.as_numpy_iterator()))
    np.testing.assert_array_equal(image[..., 1], (VALUES16 >> 8).astype(np.uint8))
    np.testing.assert_array_equal(mask[0], [0, 1, 1, 0])


def test_export_calibration_images_are_read_the_same_way(tmp_path):
    from kseg.export.images import load_images

    Image.fromarray(VALUES16).save(tmp_path / "a.png")
    (image,) = load_images(str(tmp_path))
    np.testing.assert_array_equal(image[..., 2], (VALUES16 >> 8).astype(np.uint8))
