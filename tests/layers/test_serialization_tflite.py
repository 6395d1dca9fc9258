"""All layers in one model: .keras round trip with safe_mode, and builtin-only TFLite parity."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kseg.export import tflite_ops
from kseg.layers import ASPP, BilinearKernel, MaxPoolingWithArgmax2D, MaxUnpooling2D, ResizeLike, Upsample2D


def all_layers_model(input_shape=(None, None, 3)):
    inp = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    pooled, idx = MaxPoolingWithArgmax2D(2, padding="same", name="pool")(x)
    context = ASPP(8, rates=(2, 4), dropout=0.0, name="aspp")(pooled)
    unpooled = MaxUnpooling2D(2, name="unpool")([context, idx, x])
    ups = [Upsample2D(2, mode, name=f"up_{mode}")(unpooled) for mode in ("nearest", "bilinear", "bicubic")]
    learned = keras.layers.Conv2DTranspose(
        8, 4, strides=2, padding="same", kernel_initializer=BilinearKernel(), name="up_transposed"
    )(unpooled)
    merged = keras.layers.Concatenate()([*ups, learned])
    out = keras.layers.Conv2D(4, 1, name="head")(ResizeLike(name="to_input")([merged, inp]))
    return keras.Model(inp, out, name="all_layers")


def test_keras_round_trip_safe_mode(tmp_path):
    model = all_layers_model()
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 45, 60, 3)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    assert model(x).shape == (2, 45, 60, 4)
    for layer in (MaxPoolingWithArgmax2D(3, 2, "same", "tf_op"), MaxUnpooling2D((2, 3), "scatter"),
                  Upsample2D((2, 3), "bicubic"), ResizeLike("nearest"), ASPP(8, (1, 2), False, "sum", 0.2)):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


def test_model_trains_with_default_jit():
    model = all_layers_model((16, 16, 3))
    model.compile("adam", keras.losses.MeanSquaredError())  # jit_compile="auto" turns XLA on
    x = np.random.default_rng(1).normal(size=(4, 16, 16, 3)).astype("float32")
    history = model.fit(x, np.zeros((4, 16, 16, 4), "float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_tflite_builtin_only_matches_keras():
    from ai_edge_litert.interpreter import Interpreter

    model = all_layers_model()
    inp = keras.Input((45, 60, 3), batch_size=1)
    fixed = keras.Model(inp, model(inp))
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    content = converter.convert()
    ops = set(tflite_ops(content))
    assert "CONV_2D" in ops and not any(op.startswith("CUSTOM") for op in ops), ops
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    x = np.random.default_rng(2).uniform(0, 255, size=(1, 45, 60, 3)).astype("float32")
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    ref = fixed(x).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-3 * np.abs(ref).max())


def test_unpooling_converts_to_full_int8_tflite():
    """SegNet's pool/unpool pair quantizes to int8 with builtin ops (no tensor above 5-D)."""
    from ai_edge_litert.interpreter import Interpreter

    inp = keras.Input((33, 46, 3), batch_size=1)
    x = keras.layers.Conv2D(4, 3, padding="same")(inp)
    pooled, idx = MaxPoolingWithArgmax2D(2, padding="same")(x)
    y = MaxUnpooling2D(2)([keras.layers.Conv2D(4, 1)(pooled), idx, x])
    y = Upsample2D(2, "nearest")(y)
    model = keras.Model(inp, y)
    rng = np.random.default_rng(3)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.uniform(0, 1, (1, 33, 46, 3)).astype("float32")]
                                                for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    x_in = rng.uniform(0, 1, (1, 33, 46, 3)).astype("float32")
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x_in)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    ref = model(x_in).numpy()
    assert out.shape == ref.shape == (1, 66, 92, 4)
    # zeros stay exactly where unpooling put no value, in the quantized model too
    assert ((out == 0) == (ref == 0)).mean() > 0.99
