"""The batch-norm momentum of every network kseg builds from scratch.

0.9 (PyTorch's default, 0.1 in its convention), not Keras's 0.99: the
moving averages then follow the weights within tens of steps, so the
inference-mode model after a short run is the one that was trained.
Measured (``docs/batch_norm.md``): a small SegNet-Basic after 5 epochs of 6
steps on synthetic data scored validation mIoU 0.28 in inference mode with
0.99 and 0.38 with 0.9, against 0.42 with batch statistics and 0.46 with
statistics recomputed by ``kseg.training.precise_batchnorm``.
"""

import keras

BN_MOMENTUM = 0.9


def batch_normalization(name, **kwargs):
    """``keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=name, **kwargs)``."""
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=name, **kwargs)
