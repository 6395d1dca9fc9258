"""Calibration images for int8 conversion, in the shape the TFLite converter wants."""

import numpy as np
import tensorflow as tf

# Enough calibration images for stable activation ranges; more only costs time.
MAX_REPRESENTATIVE_IMAGES = 200
_IMAGE_KEYS = ("images", "image")


def _as_uint8_image_batches(element, channels):
    """Images in one dataset element / array, as uint8-valued float32 [B,H,W,C]."""
    if isinstance(element, dict):
        for key in _IMAGE_KEYS:
            if key in element:
                element = element[key]
                break
        else:
            raise ValueError(f"representative_data dicts need an 'images' or 'image' entry, got keys {sorted(element)}.")
    elif isinstance(element, (tuple, list)) and len(element) in (1, 2) and np.ndim(element[0]) >= 3:
        element = element[0]  # (images, masks) from a training pipeline
    array = np.asarray(element)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != channels:
        raise ValueError(
            f"representative_data must hold images [H, W, {channels}] or batches [B, H, W, {channels}], got shape {array.shape}."
        )
    if array.dtype != np.uint8 and (np.nanmin(array) < 0 or np.nanmax(array) > 255):
        raise ValueError("representative_data must hold raw pixel values in 0..255 (the model's input range).")
    return array.astype(np.float32)


def representative_images(data, input_size, channels, limit=MAX_REPRESENTATIVE_IMAGES):
    """uint8 ``[1, H, W, C]`` calibration inputs at the export size.

    Args:
        data: uint8/float array ``[N, H, W, C]``, a ``tf.data.Dataset`` or any
            iterable of images, batches, ``(images, masks)`` tuples or dicts
            with ``images``; pixel values 0..255.
        input_size: ``(H, W)`` of the export; other sizes are resized.
        limit: stop after this many images.
    """
    if isinstance(data, np.ndarray):
        data = [data]
    elif isinstance(data, tf.data.Dataset):
        data = data.as_numpy_iterator()
    images = []
    for element in data:
        for image in _as_uint8_image_batches(element, channels):
            if image.shape[:2] != tuple(input_size):
                image = tf.image.resize(image, input_size).numpy()
            images.append(np.clip(np.round(image), 0, 255).astype(np.uint8)[None])
            if len(images) >= limit:
                return images
    if not images:
        raise ValueError("representative_data yielded no images.")
    return images
