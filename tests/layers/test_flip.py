import keras
import numpy as np
import pytest

from kseg.layers import Flip


def test_flip_mirrors_exactly_and_is_its_own_inverse():
    x = np.arange(2 * 3 * 4 * 2, dtype="float32").reshape(2, 3, 4, 2)
    np.testing.assert_array_equal(Flip()(x).numpy(), x[:, :, ::-1])
    np.testing.assert_array_equal(Flip("vertical")(x).numpy(), x[:, ::-1])
    np.testing.assert_array_equal(Flip()(Flip()(x)).numpy(), x)


def test_flip_serializes_and_rejects_bad_mode(tmp_path):
    inp = keras.Input((None, None, 2))
    model = keras.Model(inp, Flip("vertical", name="f")(inp))
    path = str(tmp_path / "flip.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_layer("f").mode == "vertical"
    x = np.random.default_rng(0).normal(size=(1, 5, 7, 2)).astype("float32")
    np.testing.assert_array_equal(loaded(x).numpy(), x[:, ::-1])
    with pytest.raises(ValueError, match="mode"):
        Flip("diagonal")
