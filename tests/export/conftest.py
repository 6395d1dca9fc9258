import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import toy_models  # noqa: E402


@pytest.fixture(scope="session")
def toy_model():
    return toy_models.encoder_decoder()


@pytest.fixture(scope="session")
def exported(toy_model, tmp_path_factory):
    """(model, base_dir, version_dir) of one shared SavedModel export."""
    from kseg.export import export_saved_model

    base = tmp_path_factory.mktemp("saved_models")
    path = export_saved_model(toy_model, base, "toy", class_names=["red", "green", "blue"], max_image_size=256)
    return toy_model, base, path


@pytest.fixture(scope="session")
def loaded(exported):
    import tensorflow as tf

    return tf.saved_model.load(exported[2])


@pytest.fixture
def rng():
    return np.random.default_rng(0)
