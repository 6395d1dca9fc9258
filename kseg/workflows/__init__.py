"""End-to-end jobs built from the other subpackages.

``train(config)`` runs one training job (data -> model -> fit -> evaluate ->
export) described by a ``TrainConfig`` (``make_config`` reads a YAML/TOML
file plus overrides); ``python -m pipelines.train`` is its command line.
This package sits on top: it imports ``kseg.data``, ``kseg.models``,
``kseg.training``, ``kseg.inference`` and ``kseg.export``, and none of them
imports it.
"""

from kseg.workflows.config import TrainConfig, make_config, read_config_file
from kseg.workflows.train import TrainResult, build_model, compile_model, train

__all__ = ["TrainConfig", "TrainResult", "build_model", "compile_model", "make_config", "read_config_file", "train"]
