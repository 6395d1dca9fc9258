"""Load calibration / parity images from files (used by pipelines.export)."""

import glob
import os

import numpy as np

_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


_DATA_SPEC_KINDS = ("synthetic", "camvid", "folder", "list", "tfds")


def load_images(spec, *, limit=None):
    """uint8 images from a kseg data spec, a directory, a glob pattern or a .npy/.npz file.

    Args:
        spec: a ``kseg.data`` spec (``synthetic``, ``camvid:PATH``,
            ``folder:IMAGES:MASKS``, ``list:FILE``, ``tfds:NAME``: the
            training split's images, what the training pipeline saw), a directory (its PNG/JPEG files, sorted by name), a glob such
            as ``"data/train/*.png"``, or a ``.npy`` / ``.npz`` file holding a
            uint8 array ``[N, H, W, C]`` (the ``.npz`` key ``images`` or its
            only array).
        limit: keep at most this many images.

    Returns:
        list of uint8 arrays ``[H, W, 3]`` (directory/glob; sizes may differ)
        or one uint8 array ``[N, H, W, C]`` (.npy/.npz).
    """
    spec = os.fspath(spec)
    if spec.split(":", 1)[0] in _DATA_SPEC_KINDS and not os.path.exists(spec):
        from kseg import data as kdata

        dataset = kdata.load(spec, "train").dataset
        if limit:
            dataset = dataset.take(limit)
        return [image for image, _ in dataset.as_numpy_iterator()]
    if spec.endswith((".npy", ".npz")):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"data file {spec!r} does not exist.")
        loaded = np.load(spec, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            keys = list(loaded.keys())
            if "images" in keys:
                loaded = loaded["images"]
            elif len(keys) == 1:
                loaded = loaded[keys[0]]
            else:
                raise ValueError(f"{spec!r} holds {keys}; name the image array 'images'.")
        array = np.asarray(loaded)
        if array.ndim != 4 or array.dtype != np.uint8:
            raise ValueError(f"{spec!r} must hold uint8 images [N, H, W, C], got {array.dtype} {array.shape}.")
        return array[:limit] if limit else array
    if os.path.isdir(spec):
        paths = sorted(
            os.path.join(spec, f) for f in os.listdir(spec) if f.lower().endswith(_IMAGE_EXTENSIONS)
        )
    else:
        paths = sorted(p for p in glob.glob(spec) if p.lower().endswith(_IMAGE_EXTENSIONS))
    if not paths:
        raise FileNotFoundError(f"no PNG/JPEG images found for data {spec!r}.")
    from kseg.data.images import read_image

    # Read as training and the SavedModel's predict_encoded read them (16-bit scaled to 8 bits).
    return [read_image(path) for path in (paths[:limit] if limit else paths)]
