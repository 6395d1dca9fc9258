import keras
import numpy as np
import pytest

from kseg import _compat
from kseg.models.fpn import fpn

SMALL = dict(backbone="mobilenet_v2", pyramid_channels=32, segmentation_channels=32, groups=8)


def _images(h, w):
    return np.random.default_rng(0).uniform(0, 255, (2, h, w, 3)).astype("float32")


def _producer(model, layer_name):
    tensors = model.get_layer(layer_name).input
    tensors = tensors if isinstance(tensors, list) else [tensors]
    return [_compat.producing_layer(t).name for t in tensors]


def test_output_shape_two_sizes_float32():
    model = fpn(num_classes=6, **SMALL)
    assert model.name == "fpn"
    for h, w in ((64, 64), (64, 96), (72, 100)):
        logits = model(_images(h, w))
        assert logits.shape == (2, h, w, 6) and logits.dtype == "float32"


def test_pyramid_structure():
    model = fpn(num_classes=3, input_shape=(64, 96, 3), **SMALL)
    taps = ["block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu", "out_relu"]
    for level, tap in zip((2, 3, 4, 5), taps):
        assert _producer(model, f"fpn_lateral{level}") == [tap]
        stride = 2 ** level
        assert model.get_layer(f"fpn_output{level}").output.shape[1:3] == (64 // stride, 96 // stride)
    # Level l needs l - 2 upsampling stages (P2: one conv, no upsampling).
    names = {layer.name for layer in model.layers}
    for level, stages in ((2, 1), (3, 1), (4, 2), (5, 3)):
        assert f"seg_p{level}_stage{stages}_conv" in names
        assert f"seg_p{level}_stage{stages + 1}_conv" not in names
    assert "seg_p2_stage1_upsample" not in names
    summed = model.get_layer("seg_sum").input
    assert len(summed) == 4 and all(t.shape[1:] == (16, 24, 32) for t in summed)
    assert isinstance(model.get_layer("seg_p5_stage1_gn"), keras.layers.GroupNormalization)


def test_batch_norm_option_and_errors():
    model = fpn(num_classes=3, norm="batch", **SMALL)
    assert isinstance(model.get_layer("seg_p3_stage1_bn"), keras.layers.BatchNormalization)
    with pytest.raises(ValueError, match="multiple of `groups`"):
        fpn(num_classes=3, backbone="mobilenet_v2", segmentation_channels=100)
    with pytest.raises(ValueError, match="`norm` must be one of"):
        fpn(num_classes=3, norm="layer", backbone="mobilenet_v2")


@pytest.mark.slow
def test_paper_widths_parameter_count():
    """ResNet-50 semantic FPN (256 pyramid, 128 head channels) counted by hand."""
    backbone = keras.applications.ResNet50(include_top=False, weights=None).count_params()
    p, s, k = 256, 128, 21
    laterals = sum(c * p + p for c in (256, 512, 1024, 2048))
    outputs = 4 * (9 * p * p + p)
    first, later = 9 * p * s + 2 * s, 9 * s * s + 2 * s  # conv (no bias) + GN gamma/beta
    head = 4 * first + (1 + 2) * later
    model = fpn(num_classes=k, input_shape=(64, 64, 3))
    assert model.count_params() == backbone + laterals + outputs + head + s * k + k
