"""Batched training and evaluation pipelines."""

from __future__ import annotations

import importlib
from typing import Callable, Optional, Tuple, Union

import tensorflow as tf

from kseg._checks import positive_int
from kseg.data.augment import AugmentConfig, _scaled_size, augment_pair, fit_pair, resize_pair
from kseg.data.mask_decode import check_same_size
from kseg.data.soft_labels import soft_label_reader
from kseg.data.source import SegmentationData, as_dataset

AUTOTUNE = tf.data.AUTOTUNE

# Backbone name -> keras.applications module whose preprocess_input applies.
_PREPROCESS_MODULES = {
    "vgg16": "vgg16", "vgg19": "vgg19",
    "resnet50": "resnet", "resnet101": "resnet", "resnet152": "resnet", "resnet": "resnet",
    "resnet50_v2": "resnet_v2", "resnet101_v2": "resnet_v2", "resnet152_v2": "resnet_v2",
    "resnet_v2": "resnet_v2",
    "mobilenet": "mobilenet", "mobilenet_v2": "mobilenet_v2", "mobilenet_v3": "mobilenet_v3",
    "mobilenet_v3_small": "mobilenet_v3", "mobilenet_v3_large": "mobilenet_v3",
    "efficientnet": "efficientnet", "efficientnet_v2": "efficientnet_v2",
    "densenet": "densenet", "densenet121": "densenet", "densenet169": "densenet",
    "densenet201": "densenet",
    "xception": "xception", "inception_v3": "inception_v3",
    "inception_resnet_v2": "inception_resnet_v2", "nasnet": "nasnet",
    "convnext": "convnext", "regnet": "regnet",
}
for _i in range(8):
    _PREPROCESS_MODULES[f"efficientnet_b{_i}"] = "efficientnet"
for _v in ("b0", "b1", "b2", "b3", "s", "m", "l"):
    _PREPROCESS_MODULES[f"efficientnet_v2_{_v}"] = "efficientnet_v2"


def preprocess_fn(preprocess: Union[None, str, Callable]) -> Optional[Callable]:
    """Resolves ``preprocess`` to a function on float32 images 0..255.

    None keeps raw pixels (kseg models normalise inside the graph); a
    backbone name (``"resnet50"``, ``"mobilenet_v2"``, ...) gives the
    ``keras.applications`` ``preprocess_input`` of that family; a callable
    is used as is.
    """
    if preprocess is None or callable(preprocess):
        return preprocess
    if not isinstance(preprocess, str):
        raise TypeError(f"preprocess must be None, a backbone name or a callable; got {preprocess!r}.")
    key = preprocess.lower().replace("-", "_")
    if key not in _PREPROCESS_MODULES:
        raise ValueError(f"Unknown preprocess backbone {preprocess!r}; known: "
                         f"{', '.join(sorted(_PREPROCESS_MODULES))}.")
    module = importlib.import_module(f"keras.applications.{_PREPROCESS_MODULES[key]}")
    return module.preprocess_input


def _check_size(input_size):
    try:
        h, w = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise ValueError(f"input_size must be (height, width); got {input_size!r}.") from None
    if h < 1 or w < 1:
        raise ValueError(f"input_size must be positive; got {input_size!r}.")
    return h, w


def _check_batch(batch_size):
    positive_int(batch_size, "batch_size")


def _checked_pairs(ds):
    """``ds`` after checking it yields ``(uint8 [H, W, C], int [H, W])`` pairs of one size.

    A float image (often 0..1) would train on near-black pixels, a float mask
    (resized with bilinear interpolation) on ids between classes, a mask of
    another size would be cropped and resized out of register with its image:
    each fails here, naming the input, instead.
    """
    spec = ds.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2
            and all(isinstance(s, tf.TensorSpec) for s in spec)):
        raise ValueError(f"data must yield (image, mask) tensor pairs; got element_spec {spec}.")
    image, mask = spec
    if image.dtype != tf.uint8 or image.shape.rank not in (None, 3):
        raise ValueError(
            f"data: images must be uint8 [H, W, C] raw pixels 0..255; got {image.dtype.name} "
            f"{image.shape}. Scale float images to 0..255 and cast them to uint8.")
    if not mask.dtype.is_integer or mask.shape.rank not in (None, 2):
        raise ValueError(
            f"data: masks must be integer class ids [H, W]; got {mask.dtype.name} {mask.shape} "
            "(resize masks with nearest-neighbour interpolation, squeeze a trailing 1).")

    def same_size(image, mask):
        return image, check_same_size(image, tf.cast(mask, tf.int32), "data image", "data mask")

    return ds.map(same_size, num_parallel_calls=AUTOTUNE)


def _decoded(data, *, shuffle, seed, cache, soft_labels=None):
    """Decoded (image, mask) pairs, shuffled by path when that is possible; with ``soft_labels``
    (a cache folder) ``(image, mask, logits)`` triples."""
    file_based = isinstance(data, SegmentationData) and data.paths_dataset is not None
    if soft_labels is not None:
        if not file_based:
            raise ValueError("soft_labels (a teacher cache) need file-based data (camvid:, folder:, list:), "
                             "whose images the cache names; got a dataset without file paths.")
        read = soft_label_reader(soft_labels, [f[0] for f in data.files], data.num_classes)

        def decode(image_path, mask_path):
            return (*data.decode_fn(image_path, mask_path), read(image_path))
    if file_based and (not cache or soft_labels is not None):
        paths = data.paths_dataset
        if shuffle and not cache:
            paths = paths.shuffle(data.num_examples, seed=seed, reshuffle_each_iteration=True)
        ds = paths.map(data.decode_fn if soft_labels is None else decode, num_parallel_calls=AUTOTUNE,
                       deterministic=seed is not None)
        if not cache:
            return ds
        ds = ds.cache()  # decoded once, triples included; shuffled after the cache every epoch
        return ds.shuffle(data.num_examples, seed=seed, reshuffle_each_iteration=True) if shuffle else ds
    ds = _checked_pairs(as_dataset(data))
    if cache:
        ds = ds.cache()
    if shuffle:
        n = data.num_examples if isinstance(data, SegmentationData) else None
        ds = ds.shuffle(min(n or 1024, 1024), seed=seed, reshuffle_each_iteration=True)
    return ds


# Random crops at the base scale and nothing else: what ``augment=False`` means for crops.
CROP_ONLY = AugmentConfig(scale=(1.0, 1.0), hflip=False, rotation=0.0, brightness=0.0, contrast=0.0,
                          saturation=0.0, hue=0.0)


def check_base_scale(base_scale):
    """``"fit"`` or a number in (0, 4]; returns it (numbers as float)."""
    if base_scale == "fit":
        return base_scale
    try:
        value = float(base_scale)
    except (TypeError, ValueError):
        value = None
    if value is None or isinstance(base_scale, bool) or not 0 < value <= 4:
        raise ValueError(f"base_scale must be 'fit' or a number in (0, 4]; got {base_scale!r}.")
    return value


def training_pipeline(data, *, input_size: Tuple[int, int], batch_size: int, augment=True,
                      shuffle: bool = True, cache: bool = False, seed: Optional[int] = None,
                      preprocess=None, drop_remainder: bool = True,
                      ignore_id: Optional[int] = None, base_scale="fit",
                      soft_labels=None) -> tf.data.Dataset:
    """Fixed-size training batches.

    Args:
        data: SegmentationData or ``tf.data.Dataset`` of ``(uint8 [H, W, C],
            int32 [H, W])``.
        input_size: (height, width) of every output example.
        batch_size: examples per batch.
        augment: True (default :class:`AugmentConfig`), an AugmentConfig, or
            False: with ``base_scale="fit"`` resize keeping aspect to fit,
            centre-pad; with a numeric ``base_scale`` random crops at that
            scale, nothing else.
        base_scale: ``"fit"`` (default): each image is first resized to fit
            ``input_size`` and the augmentation's scale range applies on top;
            a number: crops of ``input_size`` at that fraction of the native
            resolution (1.0: objects keep their size in pixels; the scale
            range then jitters around it), padded with the ignore id where
            the image is smaller.
        shuffle: shuffle each epoch (file paths before decoding when the
            source is file based).
        cache: cache decoded examples in memory (before augmentation).
        seed: makes shuffling and augmentation reproducible.
        preprocess: None (raw 0..255, what kseg models expect), a backbone
            name for ``keras.applications`` ``preprocess_input``, or a callable.
        drop_remainder: drop the last incomplete batch (static batch size).
        ignore_id: padding id for masks; default ``data.ignore_id`` or 255.
        soft_labels: a teacher cache folder (``pipelines.teacher_cache``)
            holding logits for every image of ``data`` (file-based): they get
            each image's crop, scale, flip and rotation, no colour jitter, and
            come with the images for a cache-fed ``Distiller``.

    Returns:
        Dataset of ``(float32 [B, h, w, C], int32 [B, h, w])``, prefetched;
        with ``soft_labels``, ``({"images": [B, h, w, C], "teacher_logits":
        float32 [B, h, w, num_classes]}, int32 [B, h, w])``.
    """
    size = _check_size(input_size)
    _check_batch(batch_size)
    if ignore_id is None:
        ignore_id = data.ignore_id if isinstance(data, SegmentationData) else 255
    if augment is True:
        augment = AugmentConfig()
    elif augment is not False and not isinstance(augment, AugmentConfig):
        raise TypeError(f"augment must be a bool or an AugmentConfig; got {augment!r}.")
    prep = preprocess_fn(preprocess)
    base_scale = check_base_scale(base_scale)
    if augment is False and base_scale != "fit":
        augment = CROP_ONLY

    ds = _decoded(data, shuffle=shuffle, seed=seed, cache=cache, soft_labels=soft_labels)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds))

        def transform(example, s):
            image, mask, *extra = example
            return augment_pair(tf.cast(image, tf.float32), mask, s, size=size, ignore_id=ignore_id,
                                config=augment, base_scale=base_scale, extra=extra[0] if extra else None)
    else:
        def transform(image, mask, *extra):
            return fit_pair(tf.cast(image, tf.float32), mask, size=size, ignore_id=ignore_id,
                            extra=extra[0] if extra else None)

    def finish(*args):
        image, mask, *extra = transform(*args)
        image = tf.ensure_shape(image, [size[0], size[1], None])
        mask = tf.ensure_shape(mask, list(size))
        image = prep(image) if prep else image
        if not extra:
            return image, mask
        return {"images": image, "teacher_logits": tf.ensure_shape(extra[0], [size[0], size[1], None])}, mask

    ds = ds.map(finish, num_parallel_calls=AUTOTUNE, deterministic=seed is not None)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def eval_pipeline(data, *, batch_size: int = 1, preprocess=None,
                  pad_to_multiple: Optional[int] = None,
                  ignore_id: Optional[int] = None, scale: float = 1.0) -> tf.data.Dataset:
    """Full-resolution evaluation batches, no augmentation, original order.

    Args:
        data: SegmentationData or dataset of ``(uint8 [H, W, C], int32 [H, W])``.
        batch_size: 1, or more when all examples share one size (a size
            mismatch then fails at batching).
        pad_to_multiple: pad bottom/right (image 0, mask ignore) so H and W
            are multiples of this, for models with an output stride. The
            padding is ignored by losses and metrics.
        scale: resize both by this factor first (bilinear image, nearest
            mask): the view of a model trained on crops at that scale.

    Returns:
        Dataset of ``(float32 [B, H, W, C], int32 [B, H, W])``, prefetched.
    """
    _check_batch(batch_size)
    if pad_to_multiple is not None:
        positive_int(pad_to_multiple, "pad_to_multiple")
    if ignore_id is None:
        ignore_id = data.ignore_id if isinstance(data, SegmentationData) else 255
    prep = preprocess_fn(preprocess)
    scale = check_base_scale(scale)
    if scale == "fit":
        raise ValueError("eval_pipeline: scale must be a number in (0, 4]; got 'fit'.")

    def finish(image, mask):
        image = tf.cast(image, tf.float32)
        if scale != 1.0:
            image, mask = resize_pair(image, mask, _scaled_size(tf.shape(mask), scale))
        if pad_to_multiple:
            shape = tf.shape(mask)
            target = -(-shape // pad_to_multiple) * pad_to_multiple
            pad = tf.stack([tf.zeros([2], tf.int32), target - shape], axis=1)
            image = tf.pad(image, tf.concat([pad, [[0, 0]]], 0))
            mask = tf.pad(mask, pad, constant_values=ignore_id)
        return (prep(image) if prep else image), mask

    ds = _checked_pairs(as_dataset(data)).map(finish, num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size).prefetch(AUTOTUNE)
