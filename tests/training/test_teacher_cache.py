"""A teacher's logits written once (kseg.training.teacher_cache, pipelines.teacher_cache) and trained on
through a cache-fed Distiller (teacher=None) and the ``teacher_cache`` config key."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kseg import data as kdata
from kseg.data.soft_labels import cache_file
from kseg.training.distillation import Distiller, check_distillation, soft_label_loss, with_teacher
from kseg.training.teacher_cache import write_teacher_cache
from pipelines import teacher_cache as cache_cli
from pipelines._cli import run

CLASSES = 3
SIZE = (20, 28)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """8 RGB 20x28 images with 3-class masks; ``{split}`` folders so train and val are separate."""
    root = tmp_path_factory.mktemp("cache_data")
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("val", 2)):
        for sub in ("images", "masks"):
            (root / split / sub).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)).save(
                root / split / "images" / f"{split}{i}.png")
            Image.fromarray(rng.integers(0, CLASSES, SIZE, dtype=np.uint8)).save(
                root / split / "masks" / f"{split}{i}.png")
    return root


def _spec(root):
    return f"folder:{root}/{{split}}/images:{root}/{{split}}/masks"


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(CLASSES, 3, padding="same")(inputs / 255.0), name="teacher")
    path = tmp_path_factory.mktemp("teacher") / "teacher.keras"
    model.save(path)
    return model, str(path)


def _load(root, split="train"):
    return kdata.load(_spec(root), split, num_classes=CLASSES)


def test_cache_holds_the_tta_teachers_logits_at_the_asked_scale(folder, teacher, tmp_path):
    model, path = teacher
    data = _load(folder)
    index = write_teacher_cache(path, data, tmp_path / "c", tta="flip", scale=0.5)
    assert (index["written"], index["present"], index["skipped"]) == (6, 0, [])
    assert (index["tta"], index["scale"], index["num_classes"], index["dtype"]) == ("flip", 0.5, 3, "float16")
    image_path = data.files[2][0]
    image = tf.cast(tf.io.decode_png(tf.io.read_file(image_path), channels=3), tf.float32)[None]
    flipped = (model(image) + model(image[:, :, ::-1])[:, :, ::-1]) / 2
    want = tf.image.resize(flipped, (10, 14), method="area")[0]
    got = tf.io.parse_tensor(tf.io.read_file(cache_file(tmp_path / "c", image_path)), tf.float16)
    np.testing.assert_allclose(np.asarray(got, np.float32), want, atol=1e-2)
    assert json.loads((tmp_path / "c" / "index.json").read_text())["written"] == 6


def test_rerun_fills_in_only_what_is_missing_and_refuses_another_teacher(folder, teacher, tmp_path):
    _, path = teacher
    data = _load(folder)
    write_teacher_cache(path, data, tmp_path / "c")
    victim = cache_file(tmp_path / "c", data.files[4][0])
    (tmp_path / "c" / "victim").write_bytes(open(victim, "rb").read())
    import os

    os.remove(victim)
    index = write_teacher_cache(path, data, tmp_path / "c")
    assert (index["written"], index["present"]) == (1, 5)
    # Every run's work is kept: the cost of the cache is the sum of the runs' seconds.
    assert [(r["written"], r["present"]) for r in index["runs"]] == [(6, 0), (1, 5)]
    assert json.loads((tmp_path / "c" / "index.json").read_text())["runs"] == index["runs"]
    assert open(victim, "rb").read() == (tmp_path / "c" / "victim").read_bytes()
    with pytest.raises(ValueError, match="was written with another tta, scale; give a new --output folder"):
        write_teacher_cache(path, data, tmp_path / "c", tta="flip", scale=0.25)


def test_an_unreadable_image_is_reported_and_skipped_and_the_cli_exits_2(folder, teacher, tmp_path, capsys):
    _, path = teacher
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(folder, root)
    argv = ["--teacher", path, "--data", _spec(root), "--split", "train", "--output", str(tmp_path / "c")]
    data = _load(root)  # the header checks pass; the file then goes bad before the cache reads it
    (root / "train" / "images" / "train1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    index = write_teacher_cache(path, data, tmp_path / "c")
    assert index["written"] == 5 and [p for p, _ in index["skipped"]] == [str(root / "train" / "images" / "train1.png")]
    assert "skipped " + str(root / "train" / "images" / "train1.png") in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # the CLI reloads the data: the header check now names the file
        run(cache_cli.main, argv)
    assert exit_info.value.code == 2
    assert "train1.png" in capsys.readouterr().err


def test_cache_refuses_in_memory_data_and_another_class_count(teacher, tmp_path):
    _, path = teacher
    with pytest.raises(ValueError, match="needs file-based data"):
        write_teacher_cache(path, kdata.load("synthetic", "train"), tmp_path / "c")


def _batch():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(2, 6, 8, 3)).astype("float32")
    y = rng.integers(0, CLASSES, size=(2, 6, 8)).astype("int32")
    y[1, :3] = 255
    return x, y, rng.normal(size=(2, 6, 8, CLASSES)).astype("float32")


def _student():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.Conv2D(CLASSES, 1, name="logits")(inputs / 255.0), name="student")


def test_cache_fed_distiller_adds_the_batchs_teacher_logits():
    student = _student()
    model = Distiller(student, None, weight=0.5, temperature=2.0)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    x, y, cached = _batch()
    batch = {"images": x, "teacher_logits": cached}
    logits = model(batch)
    np.testing.assert_array_equal(logits, student(x))
    np.testing.assert_array_equal(model(x), logits)  # validation batches are plain images
    want = float(loss(y, logits)) + 0.5 * float(soft_label_loss(y, logits, cached, temperature=2.0))
    assert float(model.compute_loss(batch, y, logits, training=True)) == pytest.approx(want, rel=1e-5)
    assert float(model.compute_loss(batch, y, logits, training=False)) == pytest.approx(float(loss(y, logits)), rel=1e-5)
    with pytest.raises(ValueError, match="batches that bring the teacher's logits"):
        model.compute_loss(x, y, logits, training=True)
    before = student.get_weights()
    model.fit(tf.data.Dataset.from_tensors((batch, y)), epochs=1, verbose=0)
    assert not np.array_equal(before[0], student.get_weights()[0])
    config = model.get_config()
    assert config["teacher"] is None
    restored = Distiller.from_config(config)
    assert restored.teacher is None and restored.weight == 0.5


def test_teacher_cache_options_are_checked(teacher, tmp_path):
    _, path = teacher
    with pytest.raises(ValueError, match="not both"):
        check_distillation(path, {}, tmp_path)
    with pytest.raises(FileNotFoundError, match="has no index.json"):
        check_distillation(None, {}, tmp_path)
    (tmp_path / "index.json").write_text(json.dumps({"format": 1, "num_classes": 3}))
    with pytest.raises(ValueError, match="tta applies to an online teacher"):
        check_distillation(None, {"tta": "flip"}, tmp_path)
    model = with_teacher(_student(), None, {"weight": 2.0}, teacher_cache=str(tmp_path))
    assert isinstance(model, Distiller) and model.teacher is None and model.weight == 2.0


@pytest.mark.slow
def test_training_run_distils_from_the_cache(folder, teacher, tmp_path, capsys):
    from pipelines import train as train_cli

    _, path = teacher
    with pytest.raises(SystemExit) as exit_info:
        run(cache_cli.main, ["--teacher", path, "--tta", "flip", "--data", _spec(folder), "--split", "train",
                             "--output", str(tmp_path / "cache")])
    assert exit_info.value.code == 0
    assert "wrote 6, kept 0, skipped 0" in capsys.readouterr().out
    (tmp_path / "tiny.yaml").write_text("model: unet\nmodel_kwargs: {base_filters: 4, depth: 2}\n"
                                        "export_tflite: false\ndistillation: {weight: 2.0}\n")
    argv = ["--config", str(tmp_path / "tiny.yaml"), "--data", _spec(folder), "--num-classes", "3",
            "--input-size", "16", "16", "--batch-size", "2", "--epochs", "2", "--teacher-cache",
            str(tmp_path / "cache"), "--output", str(tmp_path / "run"), "--export-name", "none"]
    with pytest.raises(SystemExit) as exit_info:
        run(train_cli.main, argv)
    assert exit_info.value.code == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["teacher_cache"], saved["teacher"], saved["distillation"]) == (
        str(tmp_path / "cache"), None, {"weight": 2.0})
    last = keras.saving.load_model(tmp_path / "run" / "last.keras", safe_mode=True)
    assert last.name == "unet"
    # Without every training image in the cache, the run stops before training and names the gap.
    cache_file(tmp_path / "cache", str(folder / "train" / "images" / "train0.png"))
    import os

    os.remove(cache_file(tmp_path / "cache", str(folder / "train" / "images" / "train0.png")))
    with pytest.raises(SystemExit) as exit_info:
        run(train_cli.main, argv[:-4] + ["--output", str(tmp_path / "run2"), "--export-name", "none"])
    assert exit_info.value.code == 2
    assert "no logits for 1 of 6 training images" in capsys.readouterr().err
