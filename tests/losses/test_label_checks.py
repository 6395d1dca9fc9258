"""Labels that are not class ids fail in every loss and in the confusion matrix,
naming y_true, instead of being rounded or counted as a plausible class."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kseg import losses, metrics

LOSSES = [losses.CrossEntropy, losses.FocalLoss, losses.DiceLoss]


def _batch():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (2, 4, 4)).astype(np.float32)
    labels[0, 0, 0] = 255  # the ignore id is fine
    return labels, rng.normal(size=(2, 4, 4, 3)).astype(np.float32)


@pytest.mark.parametrize("loss", LOSSES)
def test_integral_float_labels_equal_int_labels(loss):
    labels, logits = _batch()
    assert float(loss()(labels, logits)) == pytest.approx(float(loss()(labels.astype(np.int32), logits)))


@pytest.mark.parametrize("loss", LOSSES)
def test_fractional_labels_are_refused_eagerly(loss):
    # A mask resized bilinearly: 1.5 would have been rounded to class 2.
    labels, logits = _batch()
    labels[1, 2, 3] = 1.5
    with pytest.raises(ValueError, match=r"^y_true holds non-integer class ids.*Offending ids: \[1\.5\]\.$"):
        loss()(labels, logits)


def test_fractional_labels_fail_inside_a_graph():
    labels, logits = _batch()
    labels[1, 2, 3] = 0.25
    fn = tf.function(lambda a, b: losses.CrossEntropy()(a, b))
    with pytest.raises(tf.errors.InvalidArgumentError, match="y_true holds non-integer class ids"):
        fn(labels, logits)


@pytest.mark.parametrize("bad_id", [3, 254, 256, -1])
def test_ids_outside_the_classes_reach_neither_loss_nor_confusion_matrix(bad_id):
    labels, logits = _batch()
    labels = labels.astype(np.int32)
    labels[1, 1, 1] = bad_id
    message = rf"y_true contains class ids outside \[0, 3\) that are not the ignore id 255.*\[{bad_id}\]"
    with pytest.raises(ValueError, match=message):
        losses.CrossEntropy()(labels, logits)
    metric = metrics.MeanIoU(3)
    with pytest.raises(ValueError, match=message):
        metric.update_state(labels, logits)


def _xla_model(num_classes):
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(num_classes, 1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=losses.CrossEntropy(),
                  metrics=[metrics.MeanIoU(num_classes)], jit_compile=True)
    return model


@pytest.mark.parametrize("stray", [9.0, 0.5])
def test_stray_ids_under_xla_make_loss_and_miou_nan(stray):
    """Under jit_compile=True the assertion is compiled away: a 9 in a 5-class
    problem (or a fraction) must not score like the ignore id 255 does."""
    x = np.random.default_rng(0).normal(size=(4, 4, 4, 3)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 5, (4, 4, 4)).astype(np.float32)
    model = _xla_model(5)
    y[2, 0, 0] = 255
    good = model.evaluate(x, y, batch_size=2, verbose=0, return_dict=True)
    assert np.isfinite(good["loss"]) and 0 < good["miou"] <= 1
    y[2, 0, 0] = stray
    bad = model.evaluate(x, y, batch_size=2, verbose=0, return_dict=True)
    assert np.isnan(bad["loss"]) and np.isnan(bad["miou"])
    stopper = keras.callbacks.TerminateOnNaN()
    history = model.fit(x, y, batch_size=2, epochs=3, verbose=0, shuffle=False, callbacks=[stopper])
    assert np.isnan(history.history["loss"][-1]) and len(history.history["loss"]) == 1
    assert model.stop_training  # the run stops instead of training on
