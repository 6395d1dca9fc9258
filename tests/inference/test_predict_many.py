"""Batch prediction (kseg.inference.predict_many, local engine): bad files named and skipped, outputs keyed
by relative path, resume, images read as the SavedModel's predict_encoded reads them, fixed-size .tflite
and .onnx inputs, URLs, progress lines."""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kseg.data.images import read_image
from kseg.export import export_saved_model, export_tflite
from kseg.inference import ModelSpec, keras_predictor, list_tasks, load_predictor, predict_many
from kseg.inference.process import _resize_nearest
from kseg.inference.progress import Progress
from tests.inference.predict_inputs import random_image, save, tiny_model, write_bad_files


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def predictor(model):
    return keras_predictor(model)


def _classes(path):
    return np.asarray(Image.open(path))


def _expected(model, image):
    return np.argmax(model.predict(image[None].astype(np.float32), verbose=0), -1)[0]


def test_bad_files_are_named_and_every_good_one_is_written(predictor, model, tmp_path):
    good = {name: random_image(seed) for seed, name in enumerate(["a.png", "b.jpg", "c.png"])}
    for name, image in good.items():
        save(tmp_path / "in" / name, image, quality=95)
    reasons = write_bad_files(tmp_path / "in")
    summary = predict_many(predictor, [tmp_path / "in"], tmp_path / "out", progress=False)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (3, 0, 4)
    assert summary["failures"] == [{"input": str(tmp_path / "in" / name), "error": reasons[name]}
                                   for name in sorted(reasons)]
    lines = (tmp_path / "out" / "failures.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == summary["failures"]
    assert summary["failures_file"] == str(tmp_path / "out" / "failures.jsonl")
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted([f"{n[0]}_{kind}.png" for n in good for kind in ("classes", "mask", "overlay")]
                             + ["failures.jsonl"])
    for name in good:  # the JPEG as TensorFlow decodes it (PIL's decoder differs by a few levels)
        image = read_image(tmp_path / "in" / name)
        np.testing.assert_array_equal(_classes(tmp_path / "out" / f"{name[0]}_classes.png"), _expected(model, image))
    # Once the bad files are gone the stale list goes too.
    for name in reasons:
        (tmp_path / "in" / name).unlink()
    assert predict_many(predictor, [tmp_path / "in"], tmp_path / "out", progress=False)["failures_file"] is None
    assert not (tmp_path / "out" / "failures.jsonl").exists()


def test_a_model_that_refuses_the_channel_count_fails_each_image_by_name(tmp_path):
    save(tmp_path / "in" / "a.png", random_image(0))
    summary = predict_many(keras_predictor(tiny_model(channels=2)), [tmp_path / "in"], tmp_path / "out",
                           progress=False)
    assert summary["failures"] == [{"input": str(tmp_path / "in" / "a.png"),
                                    "error": "images: expected 2 channels, got 3."}]


def test_on_error_stop_raises_at_the_bad_file(predictor, tmp_path):
    save(tmp_path / "in" / "a.png", random_image(0))
    (tmp_path / "in" / "b.png").write_text("junk")
    with pytest.raises(ValueError, match=r"^Cannot predict '.*b\.png': not an image file kseg reads"):
        predict_many(predictor, [tmp_path / "in"], tmp_path / "out", on_error="stop", progress=False)


def test_two_inputs_with_one_stem_give_two_outputs(predictor, model, tmp_path):
    images = {"a/x.jpg": random_image(1), "b/x.png": random_image(2), "y.png": random_image(3),
              "y.jpg": random_image(4)}
    for name, image in images.items():
        save(tmp_path / "in" / name, image, quality=95)
    summary = predict_many(predictor, [tmp_path / "in"], tmp_path / "out", recursive=True, progress=False)
    keys = {"a/x.jpg": "a/x", "b/x.png": "b/x", "y.png": "y.png", "y.jpg": "y.jpg"}
    assert summary["outputs"] == [str(tmp_path / "out" / f"{keys[n]}_classes.png") for n in sorted(images)]
    for name, key in keys.items():
        expected = _expected(model, read_image(tmp_path / "in" / name))
        np.testing.assert_array_equal(_classes(tmp_path / "out" / f"{key}_classes.png"), expected)
    # Without --recursive only the folder's own files.
    assert [t.key for t in list_tasks([tmp_path / "in"], "out")] == ["y.jpg", "y.png"]


def test_listing_names_collisions_and_missing_inputs(tmp_path):
    save(tmp_path / "a" / "x.png", random_image(0))
    save(tmp_path / "b" / "x.png", random_image(1))
    with pytest.raises(ValueError, match=r"Inputs '.*a/x\.png' and '.*b/x\.png' would both write x\.png_classes\.png"):
        list_tasks([tmp_path / "a" / "x.png", tmp_path / "b" / "x.png"], tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=r"Image '.*absent\.png' does not exist"):
        list_tasks([tmp_path / "absent.png"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"Folder '.*empty' \(add --recursive for its subfolders\) holds no"):
        list_tasks([tmp_path / "empty"], tmp_path / "out")
    # The same file twice (itself and in its folder) is one task.
    assert len(list_tasks([tmp_path / "a", tmp_path / "a" / "x.png"], tmp_path / "out")) == 1


def test_a_rerun_rewrites_nothing_and_overwrite_redoes_all(predictor, tmp_path):
    for seed in range(3):
        save(tmp_path / "in" / f"{seed}.png", random_image(seed))
    first = predict_many(predictor, [tmp_path / "in"], tmp_path / "out", progress=False)
    files = sorted((tmp_path / "out").iterdir())
    stats = {p: (os.stat(p).st_mtime_ns, os.stat(p).st_ino) for p in files}
    second = predict_many(predictor, [tmp_path / "in"], tmp_path / "out", progress=False)
    assert (first["done"], second["done"], second["skipped"]) == (3, 0, 3)
    assert {p: (os.stat(p).st_mtime_ns, os.stat(p).st_ino) for p in files} == stats
    # A killed job left one image half done (no class map yet): only it is redone.
    (tmp_path / "out" / "1_classes.png").unlink()
    third = predict_many(predictor, [tmp_path / "in"], tmp_path / "out", progress=False)
    assert (third["done"], third["skipped"]) == (1, 2)
    assert os.stat(tmp_path / "out" / "0_mask.png").st_ino == stats[tmp_path / "out" / "0_mask.png"][1]
    redo = predict_many(predictor, [tmp_path / "in"], tmp_path / "out", overwrite=True, progress=False)
    assert (redo["done"], redo["skipped"]) == (3, 0)
    assert all(os.stat(p).st_ino != stats[p][1] for p in files)  # replaced, atomically
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary left


def _predict_encoded(saved, data):
    signature = tf.saved_model.load(str(saved)).signatures["predict_encoded"]
    return signature(image_bytes=tf.constant([data]))["classes"].numpy()[0]


def test_prediction_equals_the_saved_models_predict_encoded_on_jpeg_and_16_bit_png(model, tmp_path):
    saved = export_saved_model(model, tmp_path / "saved", "toy", max_image_size=64, warmup=False)
    # At least 32 pixels a side: the SavedModel enlarges smaller images first, which Keras does not.
    save(tmp_path / "in" / "photo.jpg", random_image(5, 40, 48), quality=80)
    # 16-bit grayscale spanning the whole range: clipped to 255 it would be a white image.
    ramp = np.linspace(0, 65535, 40 * 48).reshape(40, 48) + np.random.default_rng(0).normal(0, 3000, (40, 48))
    save(tmp_path / "in" / "deep.png", np.clip(ramp, 0, 65535).astype(np.uint16))
    summary = predict_many(ModelSpec(str(saved)), [tmp_path / "in"], tmp_path / "out", progress=False)
    assert summary["done"] == 2
    for name, key in (("photo.jpg", "photo"), ("deep.png", "deep")):
        served = _predict_encoded(saved, (tmp_path / "in" / name).read_bytes())
        np.testing.assert_array_equal(_classes(tmp_path / "out" / f"{key}_classes.png"), served)
    eight_bit = (np.clip(ramp, 0, 65535).astype(np.uint16) >> 8).astype(np.uint8)
    deep = _classes(tmp_path / "out" / "deep_classes.png")
    np.testing.assert_array_equal(deep, _expected(model, np.repeat(eight_bit[..., None], 3, -1)))
    assert len(np.unique(deep)) > 1


def test_a_fixed_size_tflite_answers_any_image_size(model, predictor, tmp_path):
    tflite = export_tflite(model, tmp_path / "m.tflite", input_size=(32, 32))
    # Quadrants of one colour each: resized to 32x32 and back, the class map keeps them.
    image = np.zeros((80, 48, 3), np.uint8)
    image[:40, :24], image[:40, 24:], image[40:, :24], image[40:, 24:] = (250, 10, 10), (10, 250, 10), (
        10, 10, 250), (128, 128, 128)
    exact = random_image(6, 32, 32)
    save(tmp_path / "in" / "odd.png", image)
    save(tmp_path / "in" / "exact.png", exact)
    summary = predict_many(ModelSpec(str(tflite)), [tmp_path / "in"], tmp_path / "out", progress=False)
    assert summary["done"] == 2
    odd = _classes(tmp_path / "out" / "odd_classes.png")
    assert odd.shape == (80, 48)
    assert np.mean(odd == predictor.classes(image)[0]) >= 0.9
    # An image at the file's size runs as it is.
    np.testing.assert_array_equal(_classes(tmp_path / "out" / "exact_classes.png"),
                                  load_predictor(tflite).classes(exact)[0])


def test_resize_nearest_keeps_blocks():
    classes = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(_resize_nearest(classes, (4, 6)), np.repeat(np.repeat(classes, 2, 0), 2, 1))
    np.testing.assert_array_equal(_resize_nearest(np.repeat(np.repeat(classes, 2, 0), 2, 1), (2, 3)), classes)


def test_an_onnx_file_is_accepted_like_a_tflite(model, tmp_path):
    pytest.importorskip("onnxruntime")
    from kseg.export import export_onnx

    path = export_onnx(model, tmp_path / "m.onnx")
    onnx = load_predictor(path)
    assert (onnx.source, onnx.input_size, onnx.channels) == ("onnx", None, 3)
    image = random_image(7, 40, 56)  # 32 or more a side: exports enlarge smaller images first
    save(tmp_path / "in" / "x.png", image)
    assert predict_many(ModelSpec(str(path)), [tmp_path / "in"], tmp_path / "out", progress=False)["done"] == 1
    np.testing.assert_array_equal(_classes(tmp_path / "out" / "x_classes.png"), _expected(model, image))
    with pytest.raises(ValueError, match=r"--tta applies to \.keras models; .* is a \.onnx"):
        load_predictor(path, tta="flip")


def test_inputs_and_outputs_may_be_urls(predictor, tmp_path):
    fsspec = pytest.importorskip("fsspec")
    root = f"memory://predict-test-{os.getpid()}"
    encoded = save(tmp_path / "x.png", random_image(0)).read_bytes()
    with fsspec.open(f"{root}/in/a/x.png", "wb") as handle:
        handle.write(encoded)
    first = predict_many(predictor, [f"{root}/in/"], f"{root}/out", recursive=True, progress=False)
    second = predict_many(predictor, [f"{root}/in/"], f"{root}/out", recursive=True, progress=False)
    assert (first["done"], second["skipped"]) == (1, 1)
    assert first["outputs"] == [f"{root}/out/a/x_classes.png"]
    with fsspec.open(first["outputs"][0], "rb") as handle:
        classes = np.asarray(Image.open(io.BytesIO(handle.read())))
    np.testing.assert_array_equal(classes, predictor.classes(random_image(0))[0])
    # file:// URLs are local files, written atomically like plain paths.
    local = predict_many(predictor, [f"{root}/in/"], f"file://{tmp_path}/out", recursive=True, progress=False)
    assert local["outputs"] == [f"file://{tmp_path}/out/a/x_classes.png"]
    np.testing.assert_array_equal(_classes(tmp_path / "out" / "a" / "x_classes.png"), classes)


def test_progress_prints_plain_lines_off_a_terminal():
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(10, stream=stream, every_s=5, clock=lambda: now[0])
    for _ in range(4):
        now[0] += 2.0
        progress.update()
    progress.close()
    assert stream.getvalue().splitlines() == ["predict: 3/10 (30%), 0.5 images/s, ETA 14s",
                                              "predict: 4/10 (40%), 0.5 images/s, ETA 12s"]
