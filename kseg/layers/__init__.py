"""The layers that restore resolution: unpooling, upsampling, dilation/ASPP.

| layer | what it does | learnable |
|---|---|---|
| ``MaxPoolingWithArgmax2D`` / ``MaxUnpooling2D`` | pool keeping argmax, put values back there (SegNet) | no |
| ``Conv2DTranspose`` + ``BilinearKernel`` | transposed conv starting as bilinear (FCN, U-Net) | yes |
| ``Upsample2D`` | nearest / bilinear / bicubic by an integer factor (builtin TFLite) | no |
| ``ResizeLike`` | resize to another tensor's dynamic size (skips, any input size) | no |
| ``ResizeByFactor`` | resize by a fractional factor (run a network at reduced scale) | no |
| ``Flip`` | deterministic left-right / top-bottom mirror (test-time augmentation) | no |
| ``ASPP`` | parallel dilated convs (DeepLab V2 sum, V3 concat + image pooling) | yes |
| ``receptive_field`` | theoretical receptive field and stride of a stack | - |
"""

from kseg.layers.aspp import ASPP
from kseg.layers.bilinear_kernel import BilinearKernel, bilinear_filter
from kseg.layers.flip import Flip
from kseg.layers.max_pooling_with_argmax2d import MaxPoolingWithArgmax2D
from kseg.layers.max_unpooling2d import MaxUnpooling2D
# kseg.graph.receptive_field, through its old module (whose import would otherwise rebind the name).
from kseg.layers.receptive_field import receptive_field
from kseg.layers.resize_by_factor import ResizeByFactor
from kseg.layers.resize_like import ResizeLike
from kseg.layers.upsample2d import Upsample2D

__all__ = [
    "ASPP", "BilinearKernel", "Flip", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "ResizeByFactor", "ResizeLike",
    "Upsample2D", "bilinear_filter", "receptive_field",
]
