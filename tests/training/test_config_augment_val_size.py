"""Config: augmentation settings and the validation size from a config file."""

import pytest

from kseg.data.augment import AugmentConfig
from kseg.workflows import make_config


def _write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_augment_mapping_and_val_size_reach_the_pipeline_settings(tmp_path):
    config = make_config(_write(tmp_path, "augment: {scale: [1.125, 2.25], hue: 0.0}\nval_size: [360, 480]\n"))
    assert config.augment_config() == AugmentConfig(scale=(1.125, 2.25), hue=0.0)
    assert config.val_size == (360, 480)
    assert make_config().augment_config() is True
    assert make_config(augment=False).augment_config() is False


@pytest.mark.parametrize("text, match", [
    ("augment: {zoom: 2}", "augment has unknown keys: zoom"),
    ("augment: {scale: [2.0, 1.0]}", "augment: scale must be"),
    ("augment: fancy", "augment must be true, false or a mapping"),
    ("val_size: [8, 480]", "val_size must be two ints >= 16"),
])
def test_bad_augment_and_val_size_are_named(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        make_config(_write(tmp_path, text + "\n"))
