import json

import numpy as np
import pytest

import keras

from kseg.training import PolyLearningRate, get_strategy, is_chief, read_tf_config, set_precision


def test_poly_values_without_warmup():
    schedule = PolyLearningRate(0.01, decay_steps=100, power=0.9)
    for step in [0, 1, 37, 99, 100, 250]:
        expected = 0.01 * (1 - min(step, 100) / 100) ** 0.9
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5, abs=1e-12)


def test_poly_values_with_warmup_and_end():
    schedule = PolyLearningRate(0.1, decay_steps=12, power=2.0, end_learning_rate=0.01, warmup_steps=4)
    got = [float(schedule(s)) for s in range(14)]
    ramp = [0.1 * (s + 1) / 4 for s in range(4)]
    decay = [0.09 * (1 - min(s - 4, 8) / 8) ** 2 + 0.01 for s in range(4, 14)]
    np.testing.assert_allclose(got, ramp + decay, rtol=1e-5)
    assert got[3] == pytest.approx(0.1) and got[4] == pytest.approx(0.1)


def test_poly_is_serializable_and_drives_an_optimizer():
    schedule = PolyLearningRate(0.5, decay_steps=10, warmup_steps=2)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert restored.get_config() == schedule.get_config()
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    var = keras.Variable(1.0)
    for _ in range(3):
        optimizer.apply_gradients([(keras.ops.ones(()), var)])
    # Steps 0, 1 (warmup 0.25, 0.5) and 2 (first decayed step, 0.5).
    assert float(var) == pytest.approx(1.0 - 0.25 - 0.5 - 0.5, rel=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(initial_learning_rate=0, decay_steps=10), "initial_learning_rate"),
    (dict(initial_learning_rate=0.1, decay_steps=0), "decay_steps"),
    (dict(initial_learning_rate=0.1, decay_steps=10, power=-1), "power"),
    (dict(initial_learning_rate=0.1, decay_steps=10, warmup_steps=10), "warmup_steps"),
    (dict(initial_learning_rate=0.1, decay_steps=10, end_learning_rate=0.2), "end_learning_rate"),
])
def test_poly_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PolyLearningRate(**kwargs)


def test_set_precision():
    try:
        assert set_precision("mixed_bfloat16") == "mixed_bfloat16"
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        set_precision("float32")
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(ValueError, match="Known policies: float32, mixed_float16, mixed_bfloat16"):
        set_precision("float16")


def test_get_strategy_names(monkeypatch):
    import tensorflow as tf

    assert get_strategy("default") is tf.distribute.get_strategy()
    with pytest.raises(ValueError, match="Known strategies: default, mirrored, multi_worker"):
        get_strategy("tpu")
    with pytest.raises(ValueError, match="devices"):
        get_strategy("default", devices=["/cpu:0"])
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        get_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}))
    with pytest.raises(ValueError, match="does not name a member"):
        read_tf_config()


def test_is_chief(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief()
    cluster = {"worker": ["a:1", "b:2"]}
    assert is_chief({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    assert not is_chief({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    with_chief = {"chief": ["c:3"], **cluster}
    assert not is_chief({"cluster": with_chief, "task": {"type": "worker", "index": 0}})
    assert is_chief({"cluster": with_chief, "task": {"type": "chief", "index": 0}})
