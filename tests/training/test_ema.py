"""Exponential moving average of the weights on Keras optimizers' use_ema (kseg.training.ema)."""

import json

import keras
import numpy as np
import pytest

from kseg.training import standard_callbacks
from kseg.training.ema import add_ema_callbacks, check_ema, ema_optimizer_kwargs, ema_weights

MOMENTUM = 0.5
EPOCHS = 3
BATCHES = 3  # per epoch


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2 * BATCHES, 4, 4, 3)).astype("float32")
    y = rng.normal(size=(2 * BATCHES, 4, 4, 2)).astype("float32")
    return x, y


def _model(decay=MOMENTUM):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="conv")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1, **ema_optimizer_kwargs(decay)), loss="mse")
    return model


class RawWeights(keras.callbacks.Callback):
    """The raw weights after every training batch (EMA weights are swapped out during an epoch)."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([w.copy() for w in self.model.get_weights()])


class StopAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("killed")


def _reference_ema(steps, momentum=MOMENTUM):
    """Keras' rule: the first step copies the weights, then average = m * average + (1 - m) * weights."""
    averages, out = None, []
    for weights in steps:
        averages = [w.copy() for w in weights] if averages is None else [
            momentum * a + (1 - momentum) * w for a, w in zip(averages, weights)]
        out.append(averages)
    return out


def _fit(model, callbacks, epochs=EPOCHS):
    x, y = _data()
    return model.fit(x, y, batch_size=2, epochs=epochs, shuffle=False, validation_data=(x[:2], y[:2]),
                     callbacks=callbacks, verbose=0)


def test_validation_checkpoint_and_final_weights_are_the_numpy_ema(tmp_path):
    model, raw = _model(), RawWeights()
    callbacks = add_ema_callbacks(standard_callbacks(tmp_path, monitor="val_loss", tensorboard=False, verbose=0),
                                  MOMENTUM)
    history = _fit(model, callbacks + [raw])
    reference = _reference_ema(raw.steps)
    assert len(raw.steps) == EPOCHS * BATCHES
    # fit ends on the averages (finalize_variable_values), not on the last raw step.
    for got, want, last in zip(model.get_weights(), reference[-1], raw.steps[-1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(got, last)
    # Every epoch's validation ran on that epoch's averages.
    x, y = _data()
    for epoch, val_loss in enumerate(history.history["val_loss"]):
        probe = _model()
        probe.set_weights(reference[(epoch + 1) * BATCHES - 1])
        assert val_loss == pytest.approx(probe.evaluate(x[:2], y[:2], verbose=0), rel=1e-5)
    # The best checkpoint holds the averages of its epoch.
    state = json.loads((tmp_path / "best.keras.json").read_text())
    best = keras.saving.load_model(tmp_path / "best.keras")
    for got, want in zip(best.get_weights(), reference[(state["epoch"] + 1) * BATCHES - 1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_resumed_run_ends_on_the_same_averages(tmp_path):
    whole = _model()
    _fit(whole, add_ema_callbacks([keras.callbacks.BackupAndRestore(tmp_path / "a")], MOMENTUM))

    first = _model()
    with pytest.raises(KeyboardInterrupt):
        _fit(first, add_ema_callbacks([keras.callbacks.BackupAndRestore(tmp_path / "b")], MOMENTUM) + [StopAfter(0)])
    resumed, raw = _model(), RawWeights()
    _fit(resumed, add_ema_callbacks([keras.callbacks.BackupAndRestore(tmp_path / "b")], MOMENTUM) + [raw])
    assert len(raw.steps) == (EPOCHS - 1) * BATCHES  # only the remaining epochs ran
    for got, want in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for got, want in zip(ema_weights(resumed), whole.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_swap_goes_right_after_backup_and_none_changes_nothing(tmp_path):
    callbacks = standard_callbacks(tmp_path, tensorboard=False)
    assert add_ema_callbacks(callbacks, None) == callbacks
    with_ema = add_ema_callbacks(callbacks, 0.99)
    assert isinstance(with_ema[0], keras.callbacks.BackupAndRestore)
    assert isinstance(with_ema[1], keras.callbacks.SwapEMAWeights) and with_ema[1].swap_on_epoch
    assert with_ema[2:] == callbacks[1:]
    assert isinstance(add_ema_callbacks([], 0.9)[0], keras.callbacks.SwapEMAWeights)
    assert ema_optimizer_kwargs(None) == {}
    assert ema_optimizer_kwargs(0.999) == {"use_ema": True, "ema_momentum": 0.999}


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "0.9", True, float("nan")])
def test_bad_momentum_is_refused(bad):
    with pytest.raises(ValueError, match=r"^ema must be the averaging momentum, a number in \(0, 1\)"):
        check_ema(bad)


def test_ema_weights_needs_an_averaging_optimizer():
    model = _model(None)
    with pytest.raises(ValueError, match="has no weight average: compile it with use_ema=True"):
        ema_weights(model)
