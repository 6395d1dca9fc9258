"""``init_weights``: a run starts from an earlier run's weights (fine-tuning)."""

import numpy as np
import pytest

from kseg.workflows import TrainConfig, build_model
from kseg.workflows.train import _init_weights


def _unet(seed, **kwargs):
    import keras

    keras.utils.set_random_seed(seed)
    config = TrainConfig(model="unet", model_kwargs={"base_filters": 4, "depth": 2, **kwargs})
    return build_model(config, num_classes=3)


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_init_weights_copies_every_weight(tmp_path, suffix):
    source, target = _unet(1), _unet(2)
    assert not np.allclose(source.get_weights()[0], target.get_weights()[0])
    path = str(tmp_path / f"source{suffix}")
    source.save(path) if suffix == ".keras" else source.save_weights(path)
    _init_weights(target, path)
    for a, b in zip(source.get_weights(), target.get_weights()):
        np.testing.assert_array_equal(a, b)
    image = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(source.predict_on_batch(image), target.predict_on_batch(image), atol=1e-6)


def test_init_weights_other_architecture_is_a_clear_error(tmp_path):
    path = str(tmp_path / "wide.keras")
    _unet(1).save(path)
    with pytest.raises(ValueError, match=r"init_weights '.*wide\.keras' does not fit model"):
        _init_weights(_unet(2, base_filters=8), path)


def test_config_checks_init_weights_and_power(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TrainConfig(init_weights=str(tmp_path / "none.keras")).validate()
    with pytest.raises(ValueError, match=r"\.keras or \.weights\.h5"):
        TrainConfig(init_weights=str(tmp_path / "w.npz")).validate()
    with pytest.raises(ValueError, match="class_weight_power"):
        TrainConfig(class_weight_power=-0.5).validate()
    (tmp_path / "ok.keras").write_bytes(b"")
    TrainConfig(init_weights=str(tmp_path / "ok.keras"), class_weight_power=0.5).validate()
