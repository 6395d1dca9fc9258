"""TF Serving ``models.config`` (a ModelServerConfig text proto) for several models."""

import os
import posixpath

from kseg._io import atomic_write_text
from kseg.export.publish import check_name, list_versions


def write_models_config(base_dir, names, path, *, server_base_dir=None):
    """Write a models.config that serves every model in ``names``.

    Args:
        base_dir: local directory holding ``<name>/<version>/`` exports;
            each name must have at least one published version there.
        names: model names (unique).
        path: the config file to write.
        server_base_dir: the same directory as the server sees it (e.g.
            ``"/models"`` inside the tensorflow/serving container); default:
            the absolute local ``base_dir``.

    Returns:
        the config text. Start the server with
        ``--model_config_file=<path as the server sees it>``.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    if isinstance(names, str):
        raise TypeError("names must be a list of model names, not a single string.")
    names = [check_name(name) for name in names]
    if not names:
        raise ValueError("names must list at least one model.")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"names lists {duplicates} more than once.")
    for name in names:
        if not list_versions(base_dir, name):
            raise FileNotFoundError(
                f"no published version of {name!r} under {os.path.join(os.fspath(base_dir), name)}; "
                "export it first (kseg.export.export_saved_model)."
            )
    root = server_base_dir if server_base_dir is not None else os.path.abspath(os.fspath(base_dir))
    config = model_server_config_pb2.ModelServerConfig()
    for name in names:
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = posixpath.join(root, name)
        entry.model_platform = "tensorflow"
    text = text_format.MessageToString(config)
    atomic_write_text(path, text)
    return text
