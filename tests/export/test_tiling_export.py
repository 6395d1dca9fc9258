"""Tiled (sliding-window) SavedModel and TFLite exports, and the channel check of serving_default."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import toy_models
from kseg.export import export_saved_model, export_tflite, saved_model_parity, tflite_ops, tflite_parity
from kseg.export.metadata import METADATA_FILENAME
from kseg.models import with_tiling
from kseg.serving import signatures as sig

TILE = (32, 48)


@pytest.fixture(scope="module")
def tiled_export(toy_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("tiled")
    path = export_saved_model(toy_model, base, "toy", tile_size=TILE, tile_overlap=0.25, warmup=False,
                              max_image_size=512)
    return path, tf.saved_model.load(path)


@pytest.fixture(scope="module")
def tiled_keras(toy_model):
    return with_tiling(toy_model, TILE, 0.25, size_divisor=4)  # the toy model pools twice


def _uint8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.slow  # the tiled export traces two while_loop signatures (~45 s on 2 busy cores)
def test_metadata_records_the_tiles(tiled_export):
    with open(os.path.join(tiled_export[0], "assets.extra", METADATA_FILENAME), encoding="utf-8") as handle:
        metadata = json.load(handle)
    assert (metadata["tile_size"], metadata["tile_overlap"]) == ([32, 48], 0.25)


@pytest.mark.slow
@pytest.mark.parametrize("size", [(70, 130), (21, 100)])
def test_serving_default_is_the_keras_tiled_model(tiled_export, tiled_keras, toy_model, size):
    images = _uint8((2, *size, 3))
    report = saved_model_parity(tiled_keras, tiled_export[0], images)
    assert report["class_agreement_pct"] == 100.0
    assert report["max_abs_probability_diff"] < 1e-5
    # ... and not the untiled answer, so the comparison can fail.
    outputs = tiled_export[1].signatures[sig.SERVING_DEFAULT](images=tf.constant(images))
    untiled = tf.nn.softmax(toy_model(np.pad(images, [(0, 0), (0, (-size[0]) % 4), (0, (-size[1]) % 4), (0, 0)])
                                      .astype(np.float32))).numpy()[:, :size[0], :size[1]]
    assert np.abs(outputs[sig.PROBABILITIES].numpy() - untiled).max() > 1e-3


@pytest.mark.slow
def test_predict_encoded_is_tiled_too(tiled_export, tiled_keras):
    image = _uint8((70, 130, 3), seed=3)
    data = tf.io.encode_png(image).numpy()
    outputs = tiled_export[1].signatures[sig.PREDICT_ENCODED](image_bytes=tf.constant([data]))
    expected = tiled_keras(image[None].astype(np.float32)).numpy().argmax(-1)
    np.testing.assert_array_equal(outputs[sig.CLASSES].numpy(), expected)


@pytest.mark.parametrize("channels", [1, 2, 4, 6])
def test_serving_default_refuses_another_channel_count(loaded, channels):
    images = tf.constant(np.zeros((1, 8, 8, channels), np.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"images: expected 3 channels, got {channels}"):
        loaded.signatures[sig.SERVING_DEFAULT](images=images)


@pytest.mark.slow
def test_tiled_serving_default_refuses_another_channel_count(tiled_export):
    with pytest.raises(tf.errors.InvalidArgumentError, match="images: expected 3 channels, got 6"):
        tiled_export[1].signatures[sig.SERVING_DEFAULT](images=tf.constant(np.zeros((1, 40, 40, 6), np.uint8)))


def test_bad_tile_arguments_are_refused_before_writing(toy_model, tmp_path):
    with pytest.raises(ValueError, match="tile_overlap must be a number with 0 <= tile_overlap < 1; got 1.5"):
        export_saved_model(toy_model, tmp_path, "toy", tile_size=TILE, tile_overlap=1.5, warmup=False)
    with pytest.raises(ValueError, match=r"tile_size \(30, 48\) must be multiples of the model's size divisor 4"):
        export_saved_model(toy_model, tmp_path, "toy", tile_size=(30, 48), warmup=False)
    assert not (tmp_path / "toy").exists()


@pytest.mark.slow
def test_tflite_tiled_at_a_fixed_large_size_is_builtin_and_matches_the_saved_model(tmp_path):
    # Cityscapes size in 512x512 windows: a static grid of 3 x 5 windows.
    model = toy_models.encoder_decoder()
    tiled = with_tiling(model, (512, 512), 0.25, size_divisor=4)
    path = export_tflite(tiled, tmp_path / "tiled.tflite", input_size=(1024, 2048), include_scores=True)
    ops = tflite_ops(path)
    assert not [op for op in ops if op.startswith("CUSTOM")], ops
    images = _uint8((1, 1024, 2048, 3), seed=5)
    report = tflite_parity(tiled, path, images, min_runs=1)
    assert report["max_abs_logit_diff"] < 1e-3
    saved = export_saved_model(model, tmp_path, "toy", tile_size=(512, 512), warmup=False)
    served = tf.saved_model.load(saved).signatures[sig.SERVING_DEFAULT](images=tf.constant(images))
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=os.fspath(path)).get_signature_runner(sig.SERVING_DEFAULT)
    lite = runner(images=images)
    probabilities = served[sig.PROBABILITIES].numpy()
    logits = np.log(probabilities)
    np.testing.assert_allclose(lite["scores"] - lite["scores"].mean(-1, keepdims=True),
                               logits - logits.mean(-1, keepdims=True), atol=1e-3)
    # Classes agree except where two logits tie within float error (random toy weights have a few).
    differ = lite[sig.CLASSES] != served[sig.CLASSES].numpy()
    top2 = np.sort(logits, axis=-1)[..., -2:]
    assert differ.mean() < 1e-5
    assert np.all((top2[..., 1] - top2[..., 0])[differ] < 2e-3)


@pytest.mark.slow  # a .tflite conversion and a predict run (~50 s on 2 busy cores)
def test_cli_tile_flags(tmp_path, capsys):
    from ai_edge_litert.interpreter import Interpreter
    from pipelines import export as export_cli
    from pipelines import predict as predict_cli

    model = toy_models.encoder_decoder()
    model_file = tmp_path / "toy.keras"
    model.save(model_file)
    args = ["--model", str(model_file), "--name", "toy", "--base", str(tmp_path / "out")]
    for extra, message in [
        (["--format", "onnx", "--tile", "32", "32"], "--tile applies to --format saved_model and tflite only"),
        (["--tile", "32", "32", "--tile-overlap", "1"], r"--tile-overlap must be in [0, 1); got 1.0"),
    ]:
        with pytest.raises(SystemExit):
            export_cli.main(args + extra)
        assert message in capsys.readouterr().err
    assert export_cli.main(args + ["--format", "tflite", "--input-size", "64", "96", "--tile", "32", "32",
                                   "--tile-overlap", "0.5"]) == 0
    images = _uint8((1, 64, 96, 3), seed=7)
    runner = Interpreter(model_path=str(tmp_path / "out" / "toy.tflite")).get_signature_runner(sig.SERVING_DEFAULT)
    tiled = with_tiling(model, (32, 32), 0.5, size_divisor=4)
    expected = tiled(images.astype(np.float32)).numpy().argmax(-1)
    np.testing.assert_array_equal(runner(images=images)[sig.CLASSES], expected)

    image_file = tmp_path / "big.png"
    image_file.write_bytes(tf.io.encode_png(images[0]).numpy())
    assert predict_cli.main(["--model", str(model_file), str(image_file), "--output", str(tmp_path / "pred"),
                             "--tile", "32", "32", "--tile-overlap", "0.5"]) == 0
    classes = tf.io.decode_png((tmp_path / "pred" / "big_classes.png").read_bytes()).numpy()[..., 0]
    np.testing.assert_array_equal(classes, expected[0])


def test_load_predictor_tiles_keras_models_only(exported):
    from kseg.inference import load_predictor

    with pytest.raises(ValueError, match="--tile applies to .keras models; .* runs as exported"):
        load_predictor(exported[2], tile=(32, 32))
