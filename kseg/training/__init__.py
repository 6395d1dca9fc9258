"""Training building blocks: learning-rate schedule, callbacks, strategies, precision, precise BN."""

from kseg.training.best_checkpoint import BestCheckpoint
from kseg.training.callbacks import (
    ResumableCSVLogger, TensorBoard, ensure_writable_dir, scalar_logs, standard_callbacks,
)
from kseg.training.precise_bn import PreciseBatchNorm, precise_batchnorm
from kseg.training.precision import set_precision
from kseg.training.schedules import PolyLearningRate
from kseg.training.strategy import get_strategy, is_chief, read_tf_config

__all__ = [
    "BestCheckpoint", "PolyLearningRate", "PreciseBatchNorm", "ResumableCSVLogger", "ensure_writable_dir",
    "TensorBoard", "get_strategy", "is_chief", "precise_batchnorm", "read_tf_config", "scalar_logs", "set_precision",
    "standard_callbacks",
]
