"""kseg.graph.receptive_field recognises kseg's layers by Keras' attribute names, in every model form."""

import keras
import pytest

from kseg.graph import receptive_field
from kseg.layers import ASPP, MaxPoolingWithArgmax2D, MaxUnpooling2D, Upsample2D


def conv(k, dilation=1):
    return keras.layers.Conv2D(2, k, padding="same", dilation_rate=dilation)


def test_kseg_pooling_and_upsampling_layers():
    # conv3: 3 (stride 1); pool 2: +1 -> 4 (stride 2); conv3: +2*2 -> 8; upsample 2: stride 1; conv3: +2 -> 10.
    assert receptive_field([conv(3), MaxPoolingWithArgmax2D(2), conv(3), Upsample2D(2), conv(3)]) == (10, 1)
    assert receptive_field([MaxPoolingWithArgmax2D(2), MaxUnpooling2D(2), conv(3)]) == (4, 1)
    assert receptive_field([keras.layers.UpSampling2D(2), conv(3)]) == (2, 0.5)
    assert receptive_field([conv(3), ASPP(4, rates=(2, 3))]) == (9, 1)


@pytest.mark.parametrize("form", ["functional", "sequential", "nested"])
def test_every_model_form_gives_the_same_figure(form):
    layers = [conv(3), keras.layers.MaxPooling2D(2), conv(3, dilation=2), Upsample2D(2)]
    expected = receptive_field(layers)
    assert expected == (12, 1)
    if form == "sequential":
        model = keras.Sequential([keras.Input((16, 16, 3)), *layers])
    else:
        inputs = keras.Input((16, 16, 3))
        x = inputs
        for layer in layers:
            x = layer(x)
        model = keras.Model(inputs, x)
        if form == "nested":
            outer_in = keras.Input((16, 16, 3))
            model = keras.Model(outer_in, model(outer_in))
    assert receptive_field(model) == expected
