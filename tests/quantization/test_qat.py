"""Quantization-aware training: fake int8 where the converter quantizes, trainable, saved, exported."""

import json

import keras
import numpy as np
import pytest

from kseg.export import export_tflite
from kseg.quantization import (
    ActivationQuantizer,
    QuantConv2D,
    QuantConv2DTranspose,
    QuantDepthwiseConv2D,
    is_quantize_aware,
    quantize_aware,
    strip_quantization,
)
from kseg.quantization.debugger import interpreter_for
from kseg.quantization.plan import classes_of
from kseg.quantization.selective import float_layers_of


def tiny_net():
    """Every supported pattern: conv+BN+ReLU, depthwise+BN+ReLU, add, pool, conv with a ReLU inside,
    transposed conv+BN, concatenation, head."""
    inputs = keras.Input((None, None, 3), name="images")
    x = keras.layers.Rescaling(1 / 127.5, -1, name="normalize")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="c1")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Activation("relu", name="r1")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = keras.layers.BatchNormalization(name="bn2")(y)
    y = keras.layers.ReLU(name="r2")(y)
    a = keras.layers.Add(name="add")([x, y])
    p = keras.layers.MaxPooling2D(name="pool")(a)
    p = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(p)
    p = keras.layers.Conv2DTranspose(8, 2, strides=2, name="up")(p)
    p = keras.layers.BatchNormalization(name="bn3")(p)
    c = keras.layers.Concatenate(name="cat")([a, p])
    outputs = keras.layers.Conv2D(3, 1, name="head")(c)
    return keras.Model(inputs, outputs, name="tiny_qat_net")


def blocky_images(n, seed=0):
    """32x32 images of 4x4 blocks of random colours; the class of a pixel is its strongest channel."""
    blocks = np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3))
    images = np.repeat(np.repeat(blocks, 4, axis=1), 4, axis=2).astype("uint8")
    return images, images.argmax(-1).astype("int32")


def _compile(model):
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.fixture(scope="module")
def trained():
    """(float model trained on 48 images, images, masks); images 48.. are held back."""
    keras.utils.set_random_seed(0)
    images, masks = blocky_images(64)
    model = _compile(tiny_net())
    model.fit(images[:48].astype("float32"), masks[:48], epochs=40, batch_size=8, verbose=0)
    return model, images, masks


def _fake_quant_per_channel(kernel):
    """NumPy reference: symmetric int8 per output channel (last axis), scale max|w| / 127."""
    flat = kernel.reshape(-1, kernel.shape[-1])
    scale = np.abs(flat).max(axis=0) / 127.0
    return (np.clip(np.round(flat / scale), -127, 127) * scale).reshape(kernel.shape)


def test_quantizers_sit_where_the_converter_quantizes_and_batch_norms_fold(trained):
    model, images, _ = trained
    qat = quantize_aware(model, representative_data=images[:8])
    assert is_quantize_aware(qat) and not is_quantize_aware(model)
    quantizers = sorted(layer.name for layer in qat.layers if isinstance(layer, ActivationQuantizer))
    # Fused ReLUs carry the range of conv+BN (c1, dw) and of c2's built-in ReLU; pool passes its input's on.
    assert quantizers == ["add_quant", "bn3_quant", "c2_quant", "cat_quant", "head_quant", "normalize_quant",
                          "r1_quant", "r2_quant"]
    assert [type(qat.get_layer(n)) for n in ("c1", "dw", "c2", "up", "head")] == [
        QuantConv2D, QuantDepthwiseConv2D, QuantConv2D, QuantConv2DTranspose, QuantConv2D]
    assert all(isinstance(qat.get_layer(n), keras.layers.Identity) for n in ("bn1", "bn2", "bn3"))
    assert qat.get_layer("c2").folded_bn_epsilon is None and qat.get_layer("c1").folded_bn_epsilon == 1e-3
    # The folded kernel is the converter's: w * gamma / sqrt(var + eps), then int8 per output channel.
    bn = model.get_layer("bn1")
    scale = bn.gamma.numpy() / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    kernel, bias = (w.numpy() for w in qat.get_layer("c1").folded_kernel_bias())
    np.testing.assert_allclose(kernel, _fake_quant_per_channel(model.get_layer("c1").kernel.numpy() * scale),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, bn.beta.numpy() - bn.moving_mean.numpy() * scale, rtol=1e-5, atol=1e-6)
    up_kernel = qat.get_layer("up").folded_kernel_bias()[0].numpy()  # (kh, kw, filters, in): 8 levels per filter
    assert all(len(np.unique(np.round(up_kernel[:, :, f] / np.abs(up_kernel[:, :, f]).max() * 127, 3))) <= 255
               for f in range(8))
    # Ranges set from the representative images: the normalised input spans [-1, 1].
    normalize = qat.get_layer("normalize_quant")
    assert (normalize.range_min.numpy(), normalize.range_max.numpy()) == (-1.0, pytest.approx(1.0, abs=1e-2))
    held = images[48:].astype("float32")
    float_classes = model.predict(held, verbose=0).argmax(-1)
    assert np.mean(qat.predict(held, verbose=0).argmax(-1) == float_classes) >= 0.97


def test_qat_model_trains_with_fit_and_tracks_ranges(trained):
    model, images, masks = trained
    qat = _compile(quantize_aware(model))
    assert qat.get_layer("add_quant").tracked.numpy() == 0  # no range yet: passes through
    before = {n: qat.get_layer(n).get_weights() for n in ("c1", "head")}
    history = qat.fit(images[:48].astype("float32"), masks[:48], epochs=2, batch_size=8, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    for name, weights in before.items():
        assert max(np.abs(a - b).max() for a, b in zip(weights, qat.get_layer(name).get_weights())) > 1e-4, name
    add = qat.get_layer("add_quant")
    assert add.tracked.numpy() == 1 and add.range_min.numpy() == 0 and add.range_max.numpy() > 0.5


def test_qat_model_saves_and_loads_in_safe_mode(trained, tmp_path):
    model, images, masks = trained
    qat = _compile(quantize_aware(model, representative_data=images[:8]))
    qat.fit(images[:16].astype("float32"), masks[:16], epochs=1, batch_size=8, verbose=0)
    qat.save(tmp_path / "qat.keras")
    loaded = keras.saving.load_model(tmp_path / "qat.keras", safe_mode=True)
    held = images[48:].astype("float32")
    np.testing.assert_array_equal(loaded.predict(held, verbose=0), qat.predict(held, verbose=0))
    assert [w.shape for w in loaded.weights] == [w.shape for w in qat.weights]
    # A fresh process that imports only kseg (as pipelines.export/evaluate/predict do) loads it too.
    import subprocess
    import sys

    code = f"import kseg, keras; print(keras.saving.load_model({str(tmp_path / 'qat.keras')!r}, safe_mode=True).name)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == qat.name, run.stderr[-2000:]


def test_int8_export_of_a_qat_model_agrees_with_it(trained, tmp_path):
    model, images, masks = trained
    qat = _compile(quantize_aware(model, representative_data=images[:8]))
    qat.fit(images[:48].astype("float32"), masks[:48], epochs=2, batch_size=8, verbose=0)
    path = export_tflite(qat, str(tmp_path / "qat_int8.tflite"), input_size=(32, 32), quantize="int8",
                         representative_data=images[:48])
    with open(path, "rb") as handle:
        content = handle.read()
    held = images[48:]
    classes = classes_of(content, [image[None] for image in held])
    agreement = np.mean(classes == qat.predict(held.astype("float32"), verbose=0).argmax(-1))
    print(f"int8 file vs QAT Keras model on {len(held)} held-back images: {agreement:.4%}")
    assert agreement >= 0.99, agreement
    # Full integer: uint8 in, every layer's op in int8.
    assert interpreter_for(content).get_input_details()[0]["dtype"] == np.uint8
    assert float_layers_of(content, [layer.name for layer in qat.layers]) == []
    # The stripped model is plain Keras: folded weights, no quantizers.
    stripped = strip_quantization(qat)
    assert not is_quantize_aware(stripped)
    assert {type(layer).__name__ for layer in stripped.layers} >= {"Conv2D", "DepthwiseConv2D", "Identity"}


def test_unsupported_layers_are_refused_by_name():
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.SeparableConv2D(2, 3, name="sep")(inputs)
    with pytest.raises(ValueError, match="quantize_aware does not support layer 'sep' \\(SeparableConv2D\\)"):
        quantize_aware(keras.Model(inputs, outputs))
    qat = quantize_aware(tiny_net())
    with pytest.raises(ValueError, match="already quantization-aware"):
        quantize_aware(qat)


TINY_YAML = """
model: unet
model_kwargs: {base_filters: 4, depth: 2}
input_size: [32, 32]
batch_size: 4
steps_per_epoch: 2
export_tflite: false
export_name: none
lr: 0.01
"""


@pytest.mark.slow
def test_train_qat_cli_fine_tunes_and_resumes(tmp_path, capsys):
    from pipelines import train as train_cli
    from pipelines._cli import run

    def train(*argv):
        with pytest.raises(SystemExit) as exit_info:
            run(train_cli.main, ["--config", str(cfg), *argv])
        return exit_info.value.code

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY_YAML)
    assert train("--output", str(tmp_path / "float"), "--epochs", "1") == 0
    start = str(tmp_path / "float" / "best.keras")
    assert train("--output", str(tmp_path / "q"), "--epochs", "1", "--qat") == 2
    assert "qat fine-tunes a trained model quantization-aware: give init_weights" in capsys.readouterr().err
    qat_dir = tmp_path / "q"
    assert train("--output", str(qat_dir), "--epochs", "1", "--qat", "--init-weights", start) == 0
    assert json.loads((qat_dir / "config.json").read_text())["qat"] is True
    best = keras.saving.load_model(qat_dir / "best.keras", safe_mode=True)
    assert is_quantize_aware(best) and isinstance(best.get_layer("encoder_block1_conv1"), QuantConv2D)
    # A rerun with more epochs resumes from the backup (ordinary weights) like any run.
    assert train("--output", str(qat_dir), "--epochs", "2", "--qat", "--init-weights", start) == 0
    rows = (qat_dir / "training_log.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1"]
    # The same folder without --qat is another network.
    assert train("--output", str(qat_dir), "--epochs", "3", "--init-weights", start) == 2
    assert "qat" in capsys.readouterr().err
