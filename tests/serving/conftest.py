import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "export"))

import toy_models  # noqa: E402


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """(keras model, loaded SavedModel) of a toy model exported for serving."""
    import tensorflow as tf

    from kseg.export import export_saved_model

    model = toy_models.encoder_decoder()
    path = export_saved_model(model, tmp_path_factory.mktemp("serving"), "toy", warmup=False)
    return model, tf.saved_model.load(path)
