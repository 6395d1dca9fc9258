import numpy as np
import pytest

import keras

from kseg import losses

RNG = np.random.default_rng(0)


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def np_pixelwise(y, logits, term, ignore_id=255, weights=None):
    """Reference: sum over valid pixels of w[y] * term(log p_y) / N_valid."""
    lp = log_softmax(logits.astype(np.float64))
    total, count = 0.0, 0
    for idx in np.ndindex(y.shape):
        if y[idx] == ignore_id:
            continue
        w = 1.0 if weights is None else weights[y[idx]]
        total += w * term(lp[idx][y[idx]])
        count += 1
    return total / count if count else 0.0


def np_ce(y, logits, **kw):
    return np_pixelwise(y, logits, lambda lp: -lp, **kw)


def np_focal(y, logits, gamma, **kw):
    return np_pixelwise(y, logits, lambda lp: -((1 - np.exp(lp)) ** gamma) * lp, **kw)


def np_dice(y, logits, smooth=1.0, ignore_id=255, weights=None):
    c = logits.shape[-1]
    p = np.exp(log_softmax(logits.astype(np.float64)))
    valid = (y != ignore_id)[..., None]
    g = np.eye(c)[np.where(y == ignore_id, 0, y)] * valid
    p = p * valid
    axes = tuple(range(y.ndim))
    dice = (2 * (p * g).sum(axes) + smooth) / (p.sum(axes) + g.sum(axes) + smooth)
    w = np.ones(c) if weights is None else np.asarray(weights)
    return 1 - (w * dice).sum() / w.sum()


@pytest.fixture
def batch():
    y = RNG.integers(0, 3, size=(2, 3, 4)).astype(np.int32)
    y[0, 0, :2] = 255
    y[1, 2, 3] = 255
    logits = RNG.normal(size=(2, 3, 4, 3)).astype(np.float32) * 2
    return y, logits


def test_cross_entropy_hand_computed():
    # Two valid pixels with logits (0, 0): ce = log 2 each; the ignored one is skipped.
    y = np.array([[[0, 1, 255]]])
    logits = np.zeros((1, 1, 3, 2), np.float32)
    logits[0, 0, 2] = [100.0, -100.0]
    assert float(losses.CrossEntropy()(y, logits)) == pytest.approx(np.log(2), rel=1e-6)
    # Weights multiply but the denominator stays N_valid = 2: (1 + 3) * log2 / 2.
    weighted = losses.CrossEntropy(class_weights=[1.0, 3.0])(y, logits)
    assert float(weighted) == pytest.approx(2 * np.log(2), rel=1e-6)


def test_cross_entropy_matches_numpy(batch):
    y, logits = batch
    w = [0.5, 2.0, 1.0]
    assert float(losses.CrossEntropy()(y, logits)) == pytest.approx(np_ce(y, logits), rel=1e-5)
    assert float(losses.CrossEntropy(class_weights=w)(y, logits)) == pytest.approx(
        np_ce(y, logits, weights=w), rel=1e-5)
    # (B, H, W, 1) labels are accepted.
    assert float(losses.CrossEntropy()(y[..., None], logits)) == pytest.approx(np_ce(y, logits), rel=1e-5)


def test_cross_entropy_matches_keras_without_ignore():
    y = RNG.integers(0, 4, size=(2, 5, 5))
    logits = RNG.normal(size=(2, 5, 5, 4)).astype(np.float32)
    ref = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    assert float(losses.CrossEntropy(ignore_id=None)(y, logits)) == pytest.approx(float(ref), rel=1e-5)


def test_from_probabilities(batch):
    y, logits = batch
    probs = np.exp(log_softmax(logits)).astype(np.float32)
    loss = losses.CrossEntropy(from_logits=False)(y, probs)
    assert float(loss) == pytest.approx(np_ce(y, logits), rel=1e-4)


@pytest.mark.parametrize("loss", [losses.CrossEntropy(), losses.FocalLoss(),
                                  losses.DiceLoss(), losses.get("ce+dice")])
def test_all_ignore_batch_is_zero_with_finite_gradient(loss):
    import tensorflow as tf

    y = np.full((2, 4, 4), 255, np.int32)
    logits = tf.Variable(RNG.normal(size=(2, 4, 4, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        value = loss(y, logits)
    grad = tape.gradient(value, logits)
    assert float(value) == 0.0
    assert np.all(np.isfinite(grad.numpy()))


def test_focal_matches_numpy_and_reduces_to_ce(batch):
    y, logits = batch
    w = [1.0, 0.25, 2.0]
    focal = losses.FocalLoss(gamma=2.0, class_weights=w)(y, logits)
    assert float(focal) == pytest.approx(np_focal(y, logits, 2.0, weights=w), rel=1e-5)
    assert float(losses.FocalLoss(gamma=0)(y, logits)) == pytest.approx(np_ce(y, logits), rel=1e-5)


def test_dice_matches_numpy(batch):
    y, logits = batch
    assert float(losses.DiceLoss()(y, logits)) == pytest.approx(np_dice(y, logits), rel=1e-5)
    w = [1.0, 0.0, 3.0]
    assert float(losses.DiceLoss(smooth=0.5, class_weights=w)(y, logits)) == pytest.approx(
        np_dice(y, logits, smooth=0.5, weights=w), rel=1e-5)


def test_dice_perfect_prediction_is_near_zero():
    y = np.array([[[0, 1], [1, 255]]])
    logits = (np.eye(2)[np.where(y == 255, 0, y)] * 50).astype(np.float32)
    assert float(losses.DiceLoss(smooth=1e-3)(y, logits)) == pytest.approx(0.0, abs=1e-3)


def test_weighted_sum_and_get(batch):
    y, logits = batch
    combo = losses.get("ce+dice", dice_weight=0.5, class_weights=[1, 2, 1])
    expected = np_ce(y, logits, weights=[1, 2, 1]) + 0.5 * np_dice(y, logits, weights=[1, 2, 1])
    assert float(combo(y, logits)) == pytest.approx(expected, rel=1e-5)
    manual = losses.WeightedSum([(losses.CrossEntropy(), 2.0), (losses.FocalLoss(gamma=1), 1.0)])
    expected = 2 * np_ce(y, logits) + np_focal(y, logits, 1.0)
    assert float(manual(y, logits)) == pytest.approx(expected, rel=1e-5)
    assert isinstance(losses.get({"name": "focal", "gamma": 3}), losses.FocalLoss)
    assert losses.get({"name": "focal", "gamma": 3}).gamma == 3.0


def test_sample_weight_per_image_and_per_pixel(batch):
    y, logits = batch
    loss = losses.CrossEntropy()
    sw = np.array([1.0, 0.0], np.float32)
    # Image 1 has zero weight but its valid pixels still count in N_valid.
    n_valid = (y != 255).sum()
    ref = np_ce(y[:1], logits[:1]) * (y[0] != 255).sum() / n_valid
    assert float(loss(y, logits, sample_weight=sw)) == pytest.approx(ref, rel=1e-5)
    pixel_sw = np.ones(y.shape, np.float32)
    assert float(loss(y, logits, sample_weight=pixel_sw)) == pytest.approx(np_ce(y, logits), rel=1e-5)


def test_serialization_round_trip(batch):
    y, logits = batch
    for loss in [losses.CrossEntropy(class_weights=[1, 2, 3]),
                 losses.FocalLoss(gamma=1.5), losses.DiceLoss(smooth=2.0),
                 losses.get("ce+dice", ignore_id=255)]:
        config = keras.saving.serialize_keras_object(loss)
        assert config["registered_name"].startswith("kseg>")
        restored = keras.saving.deserialize_keras_object(config)
        assert type(restored) is type(loss)
        assert float(restored(y, logits)) == pytest.approx(float(loss(y, logits)), rel=1e-6)


@pytest.mark.parametrize("bad, match", [
    (lambda: losses.get("dicee"), "Known losses: ce\\+dice, cross_entropy, dice, focal"),
    (lambda: losses.get("focal", smooth=1), "Unknown argument"),
    (lambda: losses.get("ce+dice", bogus=1), "bogus"),
    (lambda: losses.get({"gamma": 2}), "'name'"),
    (lambda: losses.CrossEntropy(class_weights=[1, -1]), "class_weights"),
    (lambda: losses.CrossEntropy(ignore_id="x"), "ignore_id"),
    (lambda: losses.FocalLoss(gamma=-1), "gamma"),
    (lambda: losses.DiceLoss(smooth=0), "smooth"),
    (lambda: losses.WeightedSum([]), "at least one"),
    (lambda: losses.WeightedSum([(losses.DiceLoss(), -1)]), "weight"),
    (lambda: losses.WeightedSum([("dice", 1)]), "keras.losses.Loss"),
])
def test_bad_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_bad_labels_and_shapes(batch):
    y, logits = batch
    with pytest.raises(ValueError, match="class_weights has 2 entries"):
        losses.CrossEntropy(class_weights=[1, 1])(y, logits)
    bad = y.copy()
    bad[0, 1, 1] = 7
    with pytest.raises(ValueError, match=r"outside \[0, 3\).*\[7\]"):
        losses.CrossEntropy()(bad, logits)
    with pytest.raises(ValueError, match="y_true must have shape"):
        losses.CrossEntropy()(y[0], logits)


def test_bad_labels_fail_inside_graph(batch):
    import tensorflow as tf

    y, logits = batch
    bad = y.copy()
    bad[0, 1, 1] = 7
    fn = tf.function(lambda a, b: losses.CrossEntropy()(a, b))
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside"):
        fn(bad, logits)


NUMPY_LOSSES = {
    "cross_entropy": np_ce,
    "focal": lambda y, logits: np_focal(y, logits, 2.0),
    "dice": np_dice,
    "ce+dice": lambda y, logits: np_ce(y, logits) + np_dice(y, logits),
}


@pytest.mark.parametrize("name", list(NUMPY_LOSSES))
@pytest.mark.parametrize("jit", [False, True])
def test_fit_with_mixed_precision(name, jit):
    """The loss `fit` reports under mixed_bfloat16 (and XLA) is the NumPy loss of the model's logits."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(3, 3, padding="same")(inputs)
        outputs = keras.layers.Activation("linear", dtype="float32")(x)
        model = keras.Model(inputs, outputs)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    y = RNG.integers(0, 3, size=(4, 8, 8)).astype(np.int32)
    y[:, 0] = 255
    x = RNG.uniform(0, 255, size=(4, 8, 8, 3)).astype(np.float32) / 64
    # Learning rate 0: the weights stay put, so every batch's loss is that of
    # the logits `predict` returns.
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=losses.get(name), jit_compile=jit)
    reported = model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    logits = model.predict(x, batch_size=2, verbose=0)
    assert logits.dtype == np.float32
    expected = np.mean([NUMPY_LOSSES[name](y[i:i + 2], logits[i:i + 2]) for i in (0, 2)])
    assert expected > 0.05
    assert reported == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_logits_are_computed_in_float32(batch, dtype):
    y, logits = batch
    half = keras.ops.cast(logits, dtype)
    value = losses.CrossEntropy()(y, half)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    ref = np_ce(y, keras.ops.convert_to_numpy(keras.ops.cast(half, "float32")))
    assert float(value) == pytest.approx(ref, rel=1e-5)
