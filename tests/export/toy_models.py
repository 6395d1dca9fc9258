"""Small functional models that cover the layer kinds the zoo exports."""

import keras
import numpy as np


def _normalise(x):
    # Contract: the model takes raw 0..255 pixels and normalises itself.
    return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="normalise")(x)


def encoder_decoder(num_classes=3, input_shape=(None, None, 3), seed=0):
    """Conv, dilated conv, BN, max-pool /4, Conv2DTranspose x2, bilinear x2.

    The bilinear x2 is kseg's Upsample2D when the size is dynamic (keras
    UpSampling2D cannot trace with unknown H, W) and keras UpSampling2D
    when it is fixed.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape, name="images")
    x = _normalise(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="enc_conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="enc_pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", dilation_rate=2, name="enc_dilated")(x)
    x = keras.layers.BatchNormalization(name="enc_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D(2, name="enc_pool2")(x)
    x = keras.layers.Conv2DTranspose(8, 4, strides=2, padding="same", name="dec_deconv")(x)
    if input_shape[0] is None:
        from kseg.layers import Upsample2D

        x = Upsample2D(2, interpolation="bilinear", name="dec_bilinear")(x)
    else:
        x = keras.layers.UpSampling2D(2, interpolation="bilinear", name="dec_bilinear")(x)
    outputs = keras.layers.Conv2D(num_classes, 1, name="logits")(x)
    return keras.Model(inputs, outputs, name="toy_encoder_decoder")


def keras_bilinear_dynamic(num_classes=2):
    """A dynamic-size model using keras UpSampling2D(bilinear)."""
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(num_classes, 3, strides=2, padding="same")(_normalise(inputs))
    return keras.Model(inputs, keras.layers.UpSampling2D(2, interpolation="bilinear")(x), name="keras_bilinear")


def fixed_size(num_classes=4, size=(24, 32)):
    """A model that only takes one input size (like a pretrained classifier head)."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((*size, 3))
    x = _normalise(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = keras.layers.Reshape((size[0] * size[1] * 6,))(x)
    x = keras.layers.Dense(size[0] * size[1] * num_classes // 16)(x)
    x = keras.layers.Reshape((size[0] // 4, size[1] // 4, num_classes))(x)
    outputs = keras.layers.UpSampling2D(4, interpolation="bilinear")(x)
    return keras.Model(inputs, outputs, name="toy_fixed")


def colour_data(n, size=32, seed=0):
    """Images of smooth colour blobs; class = brightest channel (0, 1, 2)."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (n, size // 8, size // 8, 3)).astype(np.float32)
    images = np.repeat(np.repeat(low, 8, axis=1), 8, axis=2)
    images = np.clip(images + rng.normal(0, 8, images.shape), 0, 255).astype(np.uint8)
    masks = images.astype(np.int32).argmax(-1)
    return images, masks


def trained_encoder_decoder(steps_epochs=25):
    """encoder_decoder briefly trained on colour_data (int8 parity needs real ranges)."""
    model = encoder_decoder(num_classes=3)
    images, masks = colour_data(64)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images.astype(np.float32), masks, batch_size=16, epochs=steps_epochs, verbose=0)
    return model
