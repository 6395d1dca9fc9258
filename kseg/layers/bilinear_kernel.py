"""Bilinear-upsampling initializer for transposed convolutions (FCN)."""

import keras
import numpy as np


def bilinear_filter(kernel_size):
    """2-D bilinear interpolation filter of shape ``(kernel_size, kernel_size)``.

    The FCN recipe: ``factor = (k + 1) // 2``; the filter is the outer product
    of ``1 - |i - centre| / factor``. With ``kernel_size = 2 * s`` and stride
    ``s`` it interpolates with half-pixel centres, like ``tf.image.resize``.
    """
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = np.arange(kernel_size, dtype="float64")
    filt1d = 1.0 - np.abs(og - centre) / factor
    return np.outer(filt1d, filt1d)


@keras.saving.register_keras_serializable(package="kseg")
class BilinearKernel(keras.initializers.Initializer):
    """Initialise a conv kernel ``(kh, kw, c1, c2)`` as per-channel bilinear upsampling.

    Channel ``i`` maps to channel ``i`` only (no cross-channel mixing), so
    ``Conv2DTranspose(C, kernel_size=2 * s, strides=s, padding="same",
    kernel_initializer=BilinearKernel())`` starts as bilinear upsampling by
    ``s`` (exact in the interior; at the border the zero padding darkens one
    pixel, as in FCN). The kernel stays learnable. Kernels must be square and
    map equal channel counts (``c1 == c2``), otherwise upsampling per channel
    has no meaning and a ``ValueError`` says so.
    """

    def __call__(self, shape, dtype=None):
        if len(shape) != 4 or shape[0] != shape[1] or shape[2] != shape[3]:
            raise ValueError(
                "BilinearKernel needs a square kernel mapping C channels to C channels, shape "
                f"(k, k, C, C); got {tuple(shape)}. Set `filters` equal to the input channels."
            )
        kernel = np.zeros(shape, dtype="float32")
        filt = bilinear_filter(shape[0])
        for c in range(shape[2]):
            kernel[:, :, c, c] = filt
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {}
