"""with_tiling: MMSegmentation "slide" inference, checked against a NumPy reference."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kseg.models import SlidingWindow, with_tiling

NUM_CLASSES = 4


def _tiny(channels=3, fixed=None, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((*(fixed or (None, None)), channels))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(NUM_CLASSES, 3, padding="same")(x)
    return keras.Model(inputs, x, name="tiny")


@pytest.fixture(scope="module")
def model():
    return _tiny()


def _image(height, width, batch=2, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (batch, height, width, 3)).astype(np.float32)


def _reference(model, images, tile, overlap, pad_to=None):
    """Slide inference written out: MMSeg's grid, zero padding up to the window, crop back."""
    _, height, width, _ = images.shape
    windows, starts = [], []
    for axis, size in enumerate((height, width)):
        stride = max(1, int(tile[axis] * (1 - overlap)))
        window = tile[axis] if size >= tile[axis] else (pad_to[axis] if pad_to else size)
        padded = max(size, window)
        count = max(padded - window + stride - 1, 0) // stride + 1
        windows.append(window)
        starts.append([min(i * stride, padded - window) for i in range(count)])
    padded = np.zeros((images.shape[0], max(height, windows[0]), max(width, windows[1]), 3), np.float32)
    padded[:, :height, :width] = images
    total = np.zeros((*padded.shape[:3], NUM_CLASSES))
    count = np.zeros(padded.shape[1:3])
    for y in starts[0]:
        for x in starts[1]:
            crop = padded[:, y:y + windows[0], x:x + windows[1]]
            total[:, y:y + windows[0], x:x + windows[1]] += model(crop).numpy()
            count[y:y + windows[0], x:x + windows[1]] += 1
    return (total / count[None, :, :, None])[:, :height, :width]


def _dynamic(tiled):
    return tf.function(lambda x: tiled(x), input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])


@pytest.fixture(scope="module")
def tiled(model):
    return with_tiling(model, (32, 48), overlap=0.25)


@pytest.mark.parametrize("size", [(32, 48), (20, 40), (32, 30)])
def test_an_image_no_larger_than_a_tile_is_the_untiled_answer(model, tiled, size):
    images = _image(*size)
    expected = model(images).numpy()
    np.testing.assert_allclose(tiled(images).numpy(), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(_dynamic(tiled)(images).numpy(), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("overlap", [0.25, 0.5])
def test_a_large_image_is_the_average_over_the_window_grid(model, overlap):
    tiled = with_tiling(model, (32, 48), overlap=overlap)
    images = _image(70, 130)
    expected = _reference(model, images, (32, 48), overlap)
    np.testing.assert_allclose(tiled(images).numpy(), expected, rtol=1e-5, atol=1e-4)  # static shape: unrolled grid
    np.testing.assert_allclose(_dynamic(tiled)(images).numpy(), expected, rtol=1e-5, atol=1e-4)  # while_loop


def test_tiles_differ_from_the_whole_image_where_windows_end(model, tiled):
    # Guards the reference test: the tiled answer is not just the untiled one.
    images = _image(70, 130)
    assert np.abs(tiled(images).numpy() - model(images).numpy()).max() > 1e-2


def test_a_short_axis_is_padded_to_the_size_divisor_and_cropped(model):
    tiled = with_tiling(model, (32, 48), overlap=0.25, size_divisor=8)
    images = _image(21, 100)  # 21 rows < 32: one window of 24 rows, 3 rows of zeros
    expected = _reference(model, images, (32, 48), 0.25, pad_to=(24, 48))
    np.testing.assert_allclose(_dynamic(tiled)(images).numpy(), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(tiled(images).numpy(), expected, rtol=1e-5, atol=1e-4)


def test_a_fixed_size_model_gets_small_images_padded_to_the_whole_tile():
    fixed = _tiny(fixed=(32, 32))
    tiled = with_tiling(fixed, (32, 32), overlap=0.5)
    images = _image(20, 50)
    expected = _reference(fixed, images, (32, 32), 0.5, pad_to=(32, 32))
    np.testing.assert_allclose(_dynamic(tiled)(images).numpy(), expected, rtol=1e-5, atol=1e-4)


def test_map_bands_reduces_each_band_to_the_same_classes(model, tiled):
    images = _image(70, 130)
    layer = tiled.get_layer("sliding_window")
    classes = _dynamic_map(layer)(images).numpy()
    reference = _reference(model, images, (32, 48), 0.25)
    # Exact where the answer is numerically decided: float sums in another order may flip a near-tie.
    top2 = np.sort(reference, axis=-1)[..., -2:]
    decided = top2[..., 1] - top2[..., 0] > 1e-3 * np.maximum(1.0, np.abs(top2[..., 1]))
    assert decided.mean() > 0.99
    np.testing.assert_array_equal(classes[decided], np.argmax(reference, axis=-1)[decided])


def _dynamic_map(layer):
    def run(x):
        return layer.map_bands(x, lambda logits: {"classes": tf.argmax(logits, axis=-1, output_type=tf.int32)})["classes"]
    return tf.function(run, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(tile_size=(32, 48), overlap=1.0), "overlap must be a number with 0 <= overlap < 1; got 1.0"),
        (dict(tile_size=(32, 48), overlap=-0.1), "overlap must be a number with 0 <= overlap < 1; got -0.1"),
        (dict(tile_size=(32, 48), overlap="0.2"), "overlap must be a number"),
        (dict(tile_size=(0, 48)), r"tile_size must be \(height, width\), two positive ints; got \(0, 48\)"),
        (dict(tile_size=32), "tile_size must be"),
        (dict(tile_size=(32.0, 48)), "tile_size must be"),
        (dict(tile_size=(36, 48), size_divisor=16), r"tile_size \(36, 48\) must be multiples of the model's size divisor 16"),
        (dict(tile_size=(32, 48), size_divisor=0), "size_divisor must be a positive int; got 0"),
    ],
)
def test_bad_arguments_are_refused_by_name(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        with_tiling(model, **kwargs)


def test_a_fixed_size_model_needs_tiles_of_its_size():
    with pytest.raises(ValueError, match=r"tile_size \(32, 48\) must equal the model's fixed input size \(32, 32\)"):
        with_tiling(_tiny(fixed=(32, 32)), (32, 48))


def test_not_a_model_is_refused():
    with pytest.raises(TypeError, match="model must be a keras.Model, got Dense"):
        SlidingWindow(keras.layers.Dense(3), (32, 32))


def test_saved_and_loaded_with_safe_mode(tiled, tmp_path):
    path = tmp_path / "tiled.keras"
    tiled.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    layer = loaded.get_layer("sliding_window")
    assert (layer.tile_size, layer.overlap, layer.size_divisor) == ((32, 48), 0.25, 1)
    images = _image(70, 130, batch=1)
    np.testing.assert_allclose(loaded(images).numpy(), tiled(images).numpy(), atol=1e-5)
    assert tiled.get_layer("sliding_window").get_config()["tile_size"] == [32, 48]
