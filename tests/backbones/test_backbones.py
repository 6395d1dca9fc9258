import math

import keras
import numpy as np
import pytest

import kseg.backbones as kb

FAST = ["vgg16", "resnet50", "mobilenet_v2"]
HEAVY = ["resnet101", "xception"]
TAP_STRIDES = {"vgg16": (1, 2, 4, 8, 16, 32)}


def _input(h=64, w=96, c=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (1, h, w, c)).astype("float32")


def _expected_strides(name, output_stride):
    return tuple(s for s in TAP_STRIDES.get(name, (2, 4, 8, 16, 32)) if s <= output_stride)


def _check_taps(name, output_stride, h=64, w=96):
    model = kb.build_backbone(name, input_shape=(h, w, 3), output_stride=output_stride)
    assert tuple(sorted(model.features)) == _expected_strides(name, output_stride)
    assert model.output_stride == output_stride
    for stride, tensor in model.features.items():
        if name == "xception":
            # Xception's stem uses 'valid' 3x3 convs: 64 -> 31 -> 29 before
            # the 'same' strided blocks halve it (ceil) again.
            size = lambda d: math.ceil(((d - 3) // 2 + 1 - 2) / (stride // 2))  # noqa: E731
        else:
            size = lambda d: math.ceil(d / stride)  # noqa: E731
        assert tuple(tensor.shape[1:3]) == (size(h), size(w)), (name, stride)
    if output_stride == 16:
        _check_dynamic_equals_static(model, name, output_stride, h, w)
    return model


def _check_dynamic_equals_static(static, name, output_stride, h, w):
    """The dynamic-size backbone with the static one's weights computes the same features."""
    dynamic = kb.build_backbone(name, output_stride=output_stride)
    dynamic.set_weights(static.get_weights())
    x = _input(h, w)
    got, want = dynamic(x), static(x)
    assert sorted(got) == sorted(want) == sorted(f"stride{s}" for s in static.features)
    for key, tensor in want.items():
        tensor = np.asarray(tensor)
        scale = np.abs(tensor).max()
        assert scale > 0, (name, key)
        np.testing.assert_allclose(np.asarray(got[key]) / scale, tensor / scale, atol=1e-5, err_msg=f"{name} {key}")


def test_available_and_unknown_name():
    assert kb.available() == ["mobilenet_v2", "resnet101", "resnet50", "vgg16", "xception"]
    with pytest.raises(ValueError, match="Known backbones: mobilenet_v2, resnet101"):
        kb.build_backbone("resnet18")


@pytest.mark.parametrize("output_stride", [32, 16, 8])
@pytest.mark.parametrize("name", FAST)
def test_tap_strides_non_square(name, output_stride):
    _check_taps(name, output_stride)


@pytest.mark.slow
@pytest.mark.parametrize("output_stride", [32, 16, 8])
@pytest.mark.parametrize("name", HEAVY)
def test_tap_strides_heavy_backbones(name, output_stride):
    _check_taps(name, output_stride, 64, 64)


def test_dilation_replaces_strides_in_resnet():
    model = kb.build_backbone("resnet50", output_stride=8)
    for stage, rate in ((3, 1), (4, 2), (5, 4)):
        assert model.get_layer(f"conv{stage}_block2_2_conv").dilation_rate == (rate, rate)
    assert model.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert model.get_layer("conv4_block1_1_conv").strides == (1, 1)
    assert model.get_layer("conv5_block1_0_conv").strides == (1, 1)
    # The conv right after a removed 1x1 stride samples neighbours 2 apart.
    assert model.get_layer("conv4_block1_2_conv").dilation_rate == (2, 2)


def test_dynamic_size_non_square_call():
    model = kb.build_backbone("mobilenet_v2", output_stride=16)
    out = model(_input(64, 96))
    assert out["stride16"].shape == (1, 4, 6, 1280)
    assert out["stride4"].shape == (1, 16, 24, 144)


@pytest.mark.parametrize(
    "name,output_stride,exact_rtol",
    [("resnet50", 16, 1e-5), ("resnet50", 8, 1e-5), ("mobilenet_v2", 16, 1e-4),
     ("mobilenet_v2", 8, 1e-4), ("vgg16", 16, 1e-5)],
)
def test_dilated_backbone_reuses_weights_and_equals_strided(tmp_path, name, output_stride, exact_rtol):
    """Atrous algorithm: the dilated net sampled every 32/os pixels equals the
    original net, once the OS32 weights are loaded by layer name."""
    base = kb.build_backbone(name, output_stride=32)
    path = tmp_path / f"{name}.weights.h5"
    base.save_weights(path)
    dilated = kb.build_backbone(name, output_stride=output_stride, weights=str(path))
    for layer in base.layers:
        for a, b in zip(layer.get_weights(), dilated.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)
    x = _input(64, 96)
    reference = np.asarray(base(x)["stride32"])
    features = np.asarray(dilated(x)[f"stride{output_stride}"])
    step = 32 // output_stride
    assert features.shape[1:3] == (64 // output_stride, 96 // output_stride)
    sampled = features[:, ::step, ::step]
    scale = np.abs(reference).max()
    assert scale > 0
    np.testing.assert_allclose(sampled / scale, reference / scale, atol=exact_rtol)


def test_random_init_differs_without_weights():
    # Guards the equality test above: two random backbones must not agree.
    a = kb.build_backbone("vgg16")
    b = kb.build_backbone("vgg16", output_stride=16)
    x = _input(64, 64)
    assert not np.allclose(np.asarray(a(x)["stride32"]), np.asarray(b(x)["stride16"])[:, ::2, ::2])


def test_local_weights_from_keras_applications_file(tmp_path):
    source = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path / "mnv2_notop.weights.h5"
    source.save_weights(path)
    model = kb.build_backbone("mobilenet_v2", weights=path)
    for layer_name in ("Conv1", "block_13_depthwise", "Conv_1_bn"):
        for a, b in zip(source.get_layer(layer_name).get_weights(), model.get_layer(layer_name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_weights_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        kb.build_backbone("vgg16", weights=str(tmp_path / "missing.weights.h5"))
    wrong = tmp_path / "vgg.weights.h5"
    kb.build_backbone("vgg16").save_weights(wrong)
    with pytest.raises(ValueError, match="does not fit backbone 'mobilenet_v2'"):
        kb.build_backbone("mobilenet_v2", weights=str(wrong))
    with pytest.raises(ValueError, match="needs 3 input channels"):
        kb.build_backbone("resnet50", input_shape=(None, None, 1), weights="imagenet")
    with pytest.raises(ValueError, match="weights must be None"):
        kb.build_backbone("resnet50", weights=3)


def test_bad_sizes_and_arguments():
    with pytest.raises(ValueError, match=r"at least 32; got height=16"):
        kb.build_backbone("resnet50", input_shape=(16, 64, 3))
    with pytest.raises(ValueError, match=r"multiple of 32 .*got width=100"):
        kb.build_backbone("vgg16", input_shape=(64, 100, 3))
    # At output stride 16 VGG's last pooling no longer subsamples.
    kb.build_backbone("vgg16", input_shape=(48, 80, 3), output_stride=16)
    kb.build_backbone("resnet50", input_shape=(33, 47, 3))
    with pytest.raises(ValueError, match=r"output_stride must be one of \(8, 16, 32\)"):
        kb.build_backbone("resnet50", output_stride=4)
    with pytest.raises(ValueError, match="input_shape must be"):
        kb.build_backbone("resnet50", input_shape=(64, 64))


def test_grayscale_input():
    model = kb.build_backbone("resnet50", input_shape=(64, 64, 1), output_stride=16)
    assert model.get_layer("conv1_conv").kernel.shape == (7, 7, 1, 64)
    out = model(_input(64, 64, 1))
    assert out["stride16"].shape == (1, 4, 4, 2048)


def test_input_tensor_builds_flat_graph():
    images = keras.Input((None, None, 3), name="rgb")
    backbone = kb.build_backbone("mobilenet_v2", input_tensor=images)
    head = keras.layers.Conv2D(2, 1, name="head")(backbone.features[32])
    model = keras.Model(images, head)
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["rgb", "preprocess", "Conv1"]
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)


def test_xception_auto_named_layers_get_stable_names():
    model = kb.build_backbone("xception", input_shape=(64, 64, 3))
    names = {layer.name for layer in model.layers}
    assert {"xception_add_0", "xception_conv2d_3", "xception_batch_normalization_3"} <= names
    assert not {"add", "conv2d"} & names


@pytest.mark.parametrize(
    "name,mode", [("vgg16", "caffe"), ("resnet50", "caffe"), ("mobilenet_v2", "tf")]
)
def test_backbone_preprocess_mode(name, mode):
    model = kb.build_backbone(name)
    assert kb.preprocess_mode(name) == mode == model.preprocess_mode
    assert model.get_layer("preprocess").mode == mode


def _bn_momenta(model):
    return {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}


def test_bn_momentum_from_scratch_and_pretrained(tmp_path):
    # keras.applications' MobileNetV2 uses 0.999: too slow for a from-scratch schedule.
    source = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(None, None, 3))
    assert _bn_momenta(source) == {0.999}
    assert _bn_momenta(kb.build_backbone("mobilenet_v2")) == {0.9}
    assert _bn_momenta(kb.build_backbone("mobilenet_v2", output_stride=8, bn_momentum=0.95)) == {0.95}
    assert _bn_momenta(kb.build_backbone("mobilenet_v2", bn_momentum=None)) == {0.999}
    path = str(tmp_path / "mnv2.weights.h5")
    source.save_weights(path)
    assert _bn_momenta(kb.build_backbone("mobilenet_v2", weights=path)) == {0.999}  # fine-tuning keeps its own
    with pytest.raises(ValueError, match="bn_momentum"):
        kb.build_backbone("mobilenet_v2", bn_momentum=1.5)


def test_from_scratch_moving_statistics_follow_training():
    """A few training steps move the moving mean close to the data's (the 0.999 default does not)."""
    x = np.random.default_rng(0).uniform(100, 255, (8, 32, 32, 3)).astype("float32")
    gaps = {}
    for momentum in ("auto", None):
        backbone = kb.build_backbone("mobilenet_v2", bn_momentum=momentum)
        bn = next(layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization))
        conv = keras.Model(backbone.input, bn.input)
        for _ in range(30):
            bn(conv(x), training=True)
        batch_mean = np.mean(conv(x).numpy(), axis=(0, 1, 2))
        gaps[momentum] = np.abs(bn.moving_mean.numpy() - batch_mean).max() / np.abs(batch_mean).max()
    # The moving mean starts at 0 and keeps momentum**steps of that start.
    np.testing.assert_allclose([gaps["auto"], gaps[None]], [0.9**30, 0.999**30], rtol=0.02)  # 0.04 vs 0.97
