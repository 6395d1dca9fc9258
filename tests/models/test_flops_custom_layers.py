import keras

import kseg
from kseg.layers import ASPP


def test_flops_counts_convolutions_inside_custom_layers():
    inp = keras.Input((32, 32, 8))
    model = keras.Model(inp, ASPP(4, rates=(2,), image_pooling=False, dropout=0.0)(inp))
    pixels = 32 * 32
    expected = 2 * pixels * 4 * 8 + 2 * pixels * 4 * 9 * 8 + 2 * pixels * 4 * 8  # 1x1, 3x3 dilated, projection
    assert kseg.models.flops(model, (32, 32, 8)) == expected


def test_deeplab_flops_grow_with_aspp_width():
    small = kseg.models.build("deeplab_v3", num_classes=3, backbone="mobilenet_v2", aspp_filters=8)
    wide = kseg.models.build("deeplab_v3", num_classes=3, backbone="mobilenet_v2", aspp_filters=64)
    assert kseg.models.flops(wide, (64, 64, 3)) > kseg.models.flops(small, (64, 64, 3)) * 1.05
