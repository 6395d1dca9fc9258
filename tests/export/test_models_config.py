import os

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from kseg import export


def test_models_config(exported, tmp_path):
    _, base, _ = exported
    os.makedirs(base / "other" / "3")
    path = tmp_path / "models.config"
    text = export.write_models_config(base, ["toy", "other"], path, server_base_dir="/models")
    config = text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
    assert path.read_text() == text
    assert [(c.name, c.base_path, c.model_platform) for c in config.model_config_list.config] == [
        ("toy", "/models/toy", "tensorflow"), ("other", "/models/other", "tensorflow")]
    local = export.write_models_config(base, ["toy"], tmp_path / "local.config")
    assert f'base_path: "{os.path.abspath(base)}/toy"' in local
    with pytest.raises(FileNotFoundError, match="no published version of 'missing'"):
        export.write_models_config(base, ["toy", "missing"], tmp_path / "x.config")
    with pytest.raises(ValueError, match="more than once"):
        export.write_models_config(base, ["toy", "toy"], tmp_path / "x.config")
    with pytest.raises(TypeError):
        export.write_models_config(base, "toy", tmp_path / "x.config")
    assert not (tmp_path / "x.config").exists()
