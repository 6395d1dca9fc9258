"""Config of a layer or model that wraps a whole kseg model (tiling, the ONNX serving wrapper).

The wrapped model is stored as its serialized Keras config, so the wrapper
round-trips through ``.keras`` files and loads with ``safe_mode=True``.
"""

import keras


def wrapper_config(config, model, **values):
    """``config`` (the base class's ``get_config()``) plus the serialized ``model`` and ``values``."""
    config.update(model=keras.saving.serialize_keras_object(model), **values)
    return config


def unwrap_config(config, **converters):
    """The constructor kwargs back from ``wrapper_config``: the model rebuilt, each
    ``converters[key]`` applied to ``config[key]`` (e.g. ``tile_size=tuple``)."""
    config = dict(config)
    config["model"] = keras.saving.deserialize_keras_object(config["model"])
    for key, convert in converters.items():
        config[key] = convert(config[key])
    return config
