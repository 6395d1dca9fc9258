"""The model zoo: one module per architecture, each registering its builders.

``build(name, *, num_classes, input_shape=(None, None, 3), **kwargs)`` and
``available()`` go through the registry; the builders are also importable
directly (``kseg.models.fcn8s(num_classes=21)``). Every model maps float32
images ``(B, H, W, C)`` with raw pixel values in [0, 255] to float32 logits
``(B, H, W, num_classes)`` at the input resolution.
"""

from kseg.models.fcn import fcn8s, fcn16s, fcn32s
from kseg.models.flops import flops
from kseg.models.registry import available, build, get_builder
from kseg.models.segnet import segnet, segnet_basic
from kseg.models.unet import unet

__all__ = [
    "available", "build", "flops", "get_builder",
    "fcn8s", "fcn16s", "fcn32s", "segnet", "segnet_basic", "unet",
]
