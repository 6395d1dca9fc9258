"""Distillation from a frozen teacher (kseg.training.distillation) and the run's last model (final_model)."""

import json

import keras
import numpy as np
import pytest

from kseg.training.distillation import (
    Distiller, check_distillation, load_teacher, soft_label_loss, student_of, with_teacher,
)
from kseg.training.final_model import save_final_model

CLASSES = 3


def _net(seed, name, classes=CLASSES):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(classes, 1, name="logits")(hidden), name=name)


def _batch():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(2, 6, 8, 3)).astype("float32")
    y = rng.integers(0, CLASSES, size=(2, 6, 8)).astype("int32")
    y[0, :2] = 255  # ignored rows
    return x, y


def _numpy_soft_labels(y, student, teacher, temperature, ignore_id=255):
    def log_softmax(z):
        z = z / temperature
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    lt, ls = log_softmax(teacher.astype("float64")), log_softmax(student.astype("float64"))
    kl = (np.exp(lt) * (lt - ls)).sum(-1)
    valid = y != ignore_id
    return temperature**2 * kl[valid].mean()


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_soft_label_loss_matches_numpy(temperature):
    x, y = _batch()
    rng = np.random.default_rng(1)
    student, teacher = (rng.normal(size=(2, 6, 8, CLASSES)).astype("float32") for _ in range(2))
    want = _numpy_soft_labels(y, student, teacher, temperature)
    got = soft_label_loss(y, student, teacher, temperature=temperature)
    assert float(got) == pytest.approx(want, rel=1e-5)
    assert float(soft_label_loss(y[..., None], student, teacher, temperature=temperature)) == pytest.approx(
        want, rel=1e-5)
    assert float(soft_label_loss(y, teacher, teacher)) == pytest.approx(0.0, abs=1e-6)
    assert float(soft_label_loss(np.full_like(y, 255), student, teacher)) == 0.0


def _distiller(weight=0.5, temperature=2.0):
    student, teacher = _net(1, "student"), _net(2, "teacher")
    model = Distiller(student, teacher, weight=weight, temperature=temperature)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    return model, student, teacher, loss


def test_training_loss_adds_the_soft_label_term_and_validation_loss_does_not():
    model, student, teacher, loss = _distiller()
    x, y = _batch()
    logits = model(x)
    np.testing.assert_array_equal(logits, student(x))
    plain = float(loss(y, student(x)))
    soft = _numpy_soft_labels(y, np.asarray(student(x)), np.asarray(teacher(x)), 2.0)
    assert float(model.compute_loss(x, y, logits, training=True)) == pytest.approx(plain + 0.5 * soft, rel=1e-5)
    assert float(model.compute_loss(x, y, logits, training=False)) == pytest.approx(plain, rel=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(plain, rel=1e-5)


def test_fit_trains_the_student_only():
    model, student, teacher, _ = _distiller()
    x, y = _batch()
    before_student, before_teacher = student.get_weights(), teacher.get_weights()
    model.fit(x, y, epochs=2, batch_size=2, verbose=0)
    assert len(model.trainable_weights) == len(student.trainable_weights) == 4
    assert all(np.array_equal(a, b) for a, b in zip(teacher.get_weights(), before_teacher))
    assert not any(np.array_equal(a, b) for a, b in zip(student.get_weights(), before_student))


def test_distiller_round_trips_through_keras_file(tmp_path):
    model, student, _, _ = _distiller(weight=0.25, temperature=3.0)
    x, y = _batch()
    model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    model.save(tmp_path / "d.keras")
    loaded = keras.saving.load_model(tmp_path / "d.keras", safe_mode=True)
    assert isinstance(loaded, Distiller) and (loaded.weight, loaded.temperature) == (0.25, 3.0)
    np.testing.assert_allclose(student_of(loaded)(x), student(x), atol=1e-6)
    assert student_of(student) is student


def test_save_final_model_writes_the_student_without_optimizer(tmp_path):
    model, student, _, _ = _distiller()
    x, y = _batch()
    model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    path = save_final_model(model, tmp_path / "last.keras", epochs=1, ema=None)
    assert path == str(tmp_path / "last.keras")
    assert json.loads((tmp_path / "last.keras.json").read_text()) == {"epochs": 1, "ema": None}
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert getattr(loaded, "optimizer", None) is None and loaded.name == "student"
    assert [w.path for w in loaded.weights] == [w.path for w in student.weights]
    np.testing.assert_allclose(loaded(x), student(x), atol=1e-6)
    with pytest.raises(ValueError, match="must end in '.keras'"):
        save_final_model(student, tmp_path / "last.h5")


def test_load_teacher_with_tta_averages_the_flipped_view(tmp_path):
    net = _net(3, "teacher")
    net.save(tmp_path / "t.keras")
    x, _ = _batch()
    plain = load_teacher(tmp_path / "t.keras")
    np.testing.assert_allclose(plain(x), net(x), atol=1e-6)
    assert not plain.trainable
    flipped = load_teacher(tmp_path / "t.keras", tta="flip")
    want = (net(x) + net(x[:, :, ::-1])[:, :, ::-1]) / 2
    np.testing.assert_allclose(flipped(x), want, atol=1e-5)


def test_with_teacher_builds_the_configured_distiller(tmp_path):
    _net(3, "teacher").save(tmp_path / "t.keras")
    student = _net(1, "student")
    assert with_teacher(student, None) is student
    model = with_teacher(student, str(tmp_path / "t.keras"), {"weight": 2.0}, ignore_id=11)
    assert isinstance(model, Distiller) and model.student is student
    assert (model.weight, model.temperature, model.ignore_id) == (2.0, 1.0, 11)


def test_bad_teachers_and_options_are_refused(tmp_path):
    _net(3, "teacher").save(tmp_path / "t.keras")
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    teacher = str(tmp_path / "t.keras")
    with pytest.raises(ValueError, match=r"^teacher must be a \.keras file; got 'm\.h5'"):
        check_distillation("m.h5", {})
    with pytest.raises(FileNotFoundError, match="teacher file 'missing.keras' does not exist"):
        check_distillation("missing.keras", {})
    with pytest.raises(ValueError, match="cannot be loaded"):
        load_teacher(tmp_path / "broken.keras")
    with pytest.raises(ValueError, match="distillation has unknown keys: alpha"):
        check_distillation(teacher, {"alpha": 1})
    with pytest.raises(ValueError, match="no teacher is given"):
        check_distillation(None, {"weight": 1})
    with pytest.raises(ValueError, match="distillation temperature must be a finite number > 0"):
        check_distillation(teacher, {"temperature": 0})
    with pytest.raises(ValueError, match="distillation weight must be a finite number >= 0"):
        check_distillation(teacher, {"weight": -1})
    with pytest.raises(ValueError, match="--tta must be"):
        check_distillation(teacher, {"tta": "mirror"})
    assert check_distillation(None, None) == {"tta": None, "weight": 1.0, "temperature": 1.0}
    with pytest.raises(ValueError, match="Teacher 'wide' predicts 5 classes, student 'student' 3"):
        Distiller(_net(1, "student"), _net(2, "wide", classes=5))


def test_a_distillation_checkpoint_predicts_with_its_student(tmp_path):
    """A Distiller saved whole (the best.keras that older kseg versions wrote during distillation):
    pipelines.evaluate/predict (load_predictor) load it and answer with the student. A .keras of a class
    nobody registered is refused in a short message, not with Keras' whole model config."""
    from kseg.inference import load_predictor

    model, student, _, _ = _distiller()
    x, y = _batch()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "best.keras")
    images = (x * 255).astype("uint8")
    want = np.argmax(np.asarray(student(images.astype("float32"))), axis=-1)
    np.testing.assert_array_equal(load_predictor(str(tmp_path / "best.keras")).classes(images), want)

    @keras.saving.register_keras_serializable(package="kseg_test_unregistered")
    class Twice(keras.layers.Layer):
        def call(self, inputs):
            return 2 * inputs

    inputs = keras.Input((None, None, 3))
    keras.Model(inputs, Twice()(keras.layers.Conv2D(3, 1)(inputs))).save(tmp_path / "custom.keras")
    keras.saving.get_custom_objects().pop("kseg_test_unregistered>Twice")
    with pytest.raises(ValueError, match=r"custom\.keras' is not a loadable \.keras model") as error:
        load_predictor(str(tmp_path / "custom.keras"))
    assert "Twice" in str(error.value) and len(str(error.value)) < 800


def test_best_checkpoint_of_a_distillation_run_is_the_student(tmp_path):
    """BestCheckpoint saves a Distiller's student alone: a plain model that loads with safe_mode=True,
    holds the student's weights and none of the teacher's."""
    from kseg.training import BestCheckpoint

    model, student, _, _ = _distiller()
    x, y = _batch()
    path = tmp_path / "best.keras"
    model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0,
              callbacks=[BestCheckpoint(path, monitor="val_loss", verbose=0)])
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert not isinstance(loaded, Distiller) and loaded.name == "student"
    assert loaded.count_params() == student.count_params() < model.count_params()
    for got, want in zip(loaded.get_weights(), student.get_weights()):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.asarray(student(x)), atol=1e-6)
    assert json.loads((tmp_path / "best.keras.json").read_text())["monitor"] == "val_loss"
