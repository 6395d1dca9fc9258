"""PadToMultiple / CropToReference and the analytical FLOP counter."""

import keras
import numpy as np
import pytest

from kseg.models import flops
from kseg.models._blocks import CropToReference, PadToMultiple, check_builder_args


def test_pad_to_multiple_pads_bottom_right_with_zeros():
    x = np.arange(2 * 5 * 7 * 3, dtype="float32").reshape(2, 5, 7, 3) + 1
    out = keras.ops.convert_to_numpy(PadToMultiple(4)(x))
    expected = np.zeros((2, 8, 8, 3), "float32")
    expected[:, :5, :7] = x
    np.testing.assert_array_equal(out, expected)
    # Already a multiple: unchanged.
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(PadToMultiple(5)(x[:, :5, :5])), x[:, :5, :5])


def test_pad_then_crop_round_trips_inside_a_dynamic_model():
    images = keras.Input((None, None, 2))
    padded = PadToMultiple(8)(images)
    cropped = CropToReference()([padded, images])
    model = keras.Model(images, [padded, cropped])
    assert PadToMultiple(8).compute_output_shape((None, 17, None, 2)) == (None, 24, None, 2)
    x = np.random.default_rng(0).normal(size=(1, 17, 9, 2)).astype("float32")
    padded_value, cropped_value = (keras.ops.convert_to_numpy(t) for t in model(x))
    assert padded_value.shape == (1, 24, 16, 2)
    np.testing.assert_array_equal(cropped_value, x)


def test_layers_round_trip_their_config_and_validate():
    layer = PadToMultiple(16, name="pad")
    clone = PadToMultiple.from_config(layer.get_config())
    assert clone.multiple == 16 and clone.name == "pad"
    assert keras.saving.get_registered_object("kseg>PadToMultiple") is PadToMultiple
    assert keras.saving.get_registered_object("kseg>CropToReference") is CropToReference
    for bad in (0, -2, 2.5, "8", True):
        with pytest.raises(ValueError, match="multiple"):
            PadToMultiple(bad)


@pytest.mark.parametrize(
    "num_classes, input_shape, match",
    [
        (0, (None, None, 3), "num_classes"),
        (2.0, (None, None, 3), "num_classes"),
        (3, (32, 32), "input_shape"),
        (3, (32, 32, 0), "input_shape"),
        (3, (-1, 32, 3), "input_shape"),
        (3, (None, None, None), "input_shape"),
        (3, 32, "input_shape"),
    ],
)
def test_builder_argument_errors_name_the_argument(num_classes, input_shape, match):
    with pytest.raises(ValueError, match=match):
        check_builder_args("unet", num_classes, input_shape)


def test_flops_counts_each_layer_kind_by_hand():
    inner_in = keras.Input((None, None, 4))
    inner = keras.Model(inner_in, keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(inner_in))
    images = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(images)          # 8x8 -> 4x4
    x = inner(x)                                                              # 4x4x8
    x = keras.layers.SeparableConv2D(6, 3, padding="same")(x)                 # 4x4x6
    x = keras.layers.Conv2DTranspose(5, 4, strides=2, padding="same")(x)      # 8x8x5
    x = keras.layers.Conv2D(6, 1, groups=1)(x)
    x = keras.layers.MaxPooling2D(2)(x)                                       # not counted
    x = keras.layers.Dense(7)(x)                                              # 4x4x7
    model = keras.Model(images, x)
    expected = 2 * (
        16 * 4 * 3 * 3 * 3        # conv: out pixels * filters * k*k*cin
        + 16 * 8 * 3 * 3          # depthwise: out pixels * cin*mult * k*k
        + 16 * 8 * (9 + 6)        # separable: depthwise + pointwise
        + 16 * 6 * 4 * 4 * 5      # transposed: in pixels * cin * k*k * filters
        + 64 * 6 * 5              # 1x1 conv
        + 16 * 6 * 7              # dense on 4x4 positions
    )
    assert flops(model, (8, 8, 3)) == expected
    # The count scales with the area, and the model itself is unchanged.
    assert flops(model, (16, 16, 3)) == 4 * expected
    assert model.input_shape == (None, None, None, 3)


def test_flops_rejects_sizes_the_model_cannot_take():
    images = keras.Input((32, 32, 3))
    model = keras.Model(images, keras.layers.Conv2D(2, 1)(images))
    with pytest.raises(ValueError, match="input_shape"):
        flops(model, (64, 64, 3))
    with pytest.raises(ValueError, match="input_shape"):
        flops(model, (32, 32))
