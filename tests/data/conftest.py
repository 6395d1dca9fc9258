import numpy as np
import pytest
from PIL import Image


class Files:
    """Writes small image/mask files for tests."""

    def __init__(self, root):
        self.root = root

    def dir(self, name):
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def image(self, folder, name, array, mode=None, **save_kw):
        path = self.dir(folder) / name
        Image.fromarray(np.asarray(array, np.uint8), mode).save(path, **save_kw)
        return path

    def palette_mask(self, folder, name, array, palette_colours):
        im = Image.fromarray(np.asarray(array, np.uint8), "P")
        flat = np.zeros((256, 3), np.uint8)
        flat[: len(palette_colours)] = palette_colours
        im.putpalette(flat.ravel().tolist())
        path = self.dir(folder) / name
        im.save(path)
        return path

    def pair(self, stem, image, mask, images="images", masks="masks"):
        return (self.image(images, f"{stem}.png", image), self.image(masks, f"{stem}.png", mask))


@pytest.fixture
def files(tmp_path):
    return Files(tmp_path)


def random_image(h, w, seed=0, channels=3):
    rng = np.random.default_rng(seed)
    shape = (h, w, channels) if channels > 1 else (h, w)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def rand_image():
    return random_image
