import numpy as np
import pytest

import keras

from kseg import metrics

# Hand-made 2x4 masks with 3 classes (ids 0..2) plus one ignored pixel and an
# unused class 3 (num_classes=4):
#   truth  0 0 1 1      pred 0 1 1 1
#          2 2 1 255         2 0 1 2
TRUTH = np.array([[[0, 0, 1, 1], [2, 2, 1, 255]]], np.int32)
PRED = np.array([[[0, 1, 1, 1], [2, 0, 1, 2]]], np.int32)
# Confusion (rows truth): class0 -> [1,1,0], class1 -> [0,3,0], class2 -> [1,0,1]
EXPECTED_CM = np.array([[1, 1, 0, 0], [0, 3, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
# IoU: c0 = 1/(2+2-1) = 1/3; c1 = 3/(3+4-3) = 3/4; c2 = 1/(2+1-1) = 1/2; c3 absent.
IOU = [1 / 3, 3 / 4, 1 / 2]
# Accuracy: c0 1/2, c1 3/3, c2 1/2.
ACC = [1 / 2, 1.0, 1 / 2]


def logits_of(pred, num_classes=4):
    return (np.eye(num_classes)[pred] * 5).astype(np.float32)


def test_numpy_confusion_matrix_and_report():
    cm = metrics.confusion_matrix(TRUTH, PRED, num_classes=4)
    np.testing.assert_array_equal(cm, EXPECTED_CM)
    np.testing.assert_array_equal(metrics.confusion_matrix(TRUTH[0], logits_of(PRED[0]), 4), EXPECTED_CM)
    report = metrics.report_from_confusion(cm, class_names=["sky", "road", "car", "bike"])
    assert report["miou"] == pytest.approx(np.mean(IOU))
    assert report["per_class_iou"] == pytest.approx({"sky": IOU[0], "road": IOU[1], "car": IOU[2], "bike": None})
    assert report["per_class_iou"]["bike"] is None
    assert report["pixel_accuracy"] == pytest.approx(5 / 7)
    assert report["mean_accuracy"] == pytest.approx(np.mean(ACC))
    assert report["confusion_matrix"] == EXPECTED_CM.tolist()
    assert report["class_names"] == ["sky", "road", "car", "bike"]
    import json
    json.dumps(report)


@pytest.mark.parametrize("metric_cls, expected", [
    (metrics.MeanIoU, np.mean(IOU)),
    (metrics.PixelAccuracy, 5 / 7),
    (metrics.MeanAccuracy, np.mean(ACC)),
])
def test_streaming_metrics_on_hand_made_masks(metric_cls, expected):
    metric = metric_cls(num_classes=4)
    # Streaming over two halves gives the same result as one batch.
    metric.update_state(TRUTH[:, :1], logits_of(PRED[:, :1]))
    metric.update_state(TRUTH[:, 1:, :, None], logits_of(PRED[:, 1:]))
    assert float(metric.result()) == pytest.approx(expected, rel=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_per_class_iou_vector_and_confusion_matrix_metric():
    metric = metrics.PerClassIoU(num_classes=4)
    metric.update_state(TRUTH, logits_of(PRED))
    result = keras.ops.convert_to_numpy(metric.result())
    np.testing.assert_allclose(result[:3], IOU, rtol=1e-6)
    assert np.isnan(result[3])
    cm_metric = metrics.ConfusionMatrix(num_classes=4)
    cm_metric.update_state(TRUTH, PRED)  # int class ids are accepted as predictions
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(cm_metric.result()), EXPECTED_CM)


def test_absent_classes_do_not_count_in_mean():
    # Perfect prediction of class 0 only, with 5 classes: mIoU 1, not 1/5.
    metric = metrics.MeanIoU(num_classes=5)
    truth = np.zeros((1, 2, 2), np.int32)
    metric.update_state(truth, logits_of(truth, 5))
    assert float(metric.result()) == 1.0
    # A class predicted but absent from the truth counts (IoU 0) in mIoU but
    # not in the class-mean accuracy.
    pred = np.array([[[0, 0], [0, 3]]])
    cm = metrics.confusion_matrix(truth, pred, 5)
    report = metrics.report_from_confusion(cm)
    assert report["miou"] == pytest.approx((3 / 4 + 0) / 2)
    assert report["mean_accuracy"] == pytest.approx(3 / 4)


def test_random_against_numpy_reference():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 6, size=(3, 9, 7))
    truth[rng.random(truth.shape) < 0.1] = 255
    logits = rng.normal(size=(3, 9, 7, 6)).astype(np.float32)
    pred = logits.argmax(-1)
    ref = np.zeros((6, 6), np.int64)
    for t, p in zip(truth.ravel(), pred.ravel()):
        if t != 255:
            ref[t, p] += 1
    np.testing.assert_array_equal(metrics.confusion_matrix(truth, logits, 6), ref)
    iou = np.diag(ref) / (ref.sum(0) + ref.sum(1) - np.diag(ref))
    metric = metrics.MeanIoU(6)
    metric.update_state(truth, logits)
    assert float(metric.result()) == pytest.approx(iou.mean(), rel=1e-6)


def test_sample_weight_weights_pixels():
    metric = metrics.PixelAccuracy(num_classes=4)
    weights = np.ones(TRUTH.shape, np.float32)
    weights[0, 0, 1] = 0.0  # drops the one wrong pixel in row 0
    metric.update_state(TRUTH, logits_of(PRED), sample_weight=weights)
    assert float(metric.result()) == pytest.approx(5 / 6)


def test_errors():
    with pytest.raises(ValueError, match="num_classes"):
        metrics.MeanIoU(num_classes=0)
    with pytest.raises(ValueError, match="ignore_id"):
        metrics.MeanIoU(3, ignore_id=1.5)
    bad = TRUTH.copy()
    bad[0, 0, 0] = 9
    with pytest.raises(ValueError, match=r"y_true contains class ids outside \[0, 4\).*\[9\]"):
        metrics.MeanIoU(4).update_state(bad, logits_of(PRED))
    with pytest.raises(ValueError, match="num_classes=5"):
        metrics.MeanIoU(5).update_state(TRUTH, logits_of(PRED))
    with pytest.raises(ValueError, match="resize the logits"):
        metrics.MeanIoU(4).update_state(TRUTH, logits_of(PRED)[:, :, :2])
    with pytest.raises(ValueError, match="square"):
        metrics.report_from_confusion(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="class_names has 1"):
        metrics.report_from_confusion(EXPECTED_CM, class_names=["a"])
    with pytest.raises(ValueError, match="distinct"):
        metrics.report_from_confusion(np.eye(2), class_names=["a", "a"])
    with pytest.raises(ValueError, match="y_pred of shape"):
        metrics.confusion_matrix(TRUTH, PRED[:, :1], 4)


def test_config_round_trip():
    metric = metrics.MeanIoU(7, ignore_id=None, name="val_thing")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert type(restored) is metrics.MeanIoU
    assert (restored.num_classes, restored.ignore_id, restored.name) == (7, None, "val_thing")


@pytest.mark.parametrize("jit_compile", [False, True, "auto"])
def test_in_model_fit_and_evaluate(jit_compile):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=(6, 8, 8)).astype(np.int32)
    y[:, :, 0] = 255
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    model.compile(
        optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255),
        metrics=[metrics.MeanIoU(3), metrics.PerClassIoU(3), metrics.PixelAccuracy(3), metrics.MeanAccuracy(3)],
        jit_compile=jit_compile,
    )
    history = model.fit(x, y, batch_size=4, epochs=1, validation_data=(x, y), verbose=0)
    assert "val_miou" in history.history
    results = model.evaluate(x, y, batch_size=4, return_dict=True, verbose=0)
    report = metrics.report_from_confusion(metrics.confusion_matrix(y, model.predict(x, verbose=0), 3))
    assert results["miou"] == pytest.approx(report["miou"], rel=1e-5)
    assert results["pixel_accuracy"] == pytest.approx(report["pixel_accuracy"], rel=1e-5)
    assert results["mean_accuracy"] == pytest.approx(report["mean_accuracy"], rel=1e-5)
    np.testing.assert_allclose(np.asarray(results["per_class_iou"]),
                               [v for v in report["per_class_iou"].values()], rtol=1e-5)


def test_out_of_range_labels_under_xla_make_the_matrix_nan():
    import tensorflow as tf

    bad = TRUTH.copy()
    bad[0, 0, 0] = 9
    fn = tf.function(lambda t, p: metrics.batch_confusion_matrix(t, p, 4), jit_compile=True)
    assert np.isnan(fn(bad, logits_of(PRED)).numpy()).all()
    bad[0, 0, 0] = 255  # the ignore id is still skipped
    expected = EXPECTED_CM.copy()
    expected[TRUTH[0, 0, 0], PRED[0, 0, 0]] -= 1
    np.testing.assert_array_equal(fn(bad, logits_of(PRED)).numpy(), expected)
    bad[0, 0, 0] = 9
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside"):
        tf.function(lambda t, p: metrics.batch_confusion_matrix(t, p, 4))(bad, logits_of(PRED))


def test_saved_model_with_kseg_loss_and_metrics_reloads(tmp_path):
    from kseg import losses

    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=(4, 8, 8)).astype(np.int32)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    model.compile(optimizer="adam", loss=losses.get("ce+dice"),
                  metrics=[metrics.MeanIoU(3), metrics.MeanAccuracy(3)])
    model.fit(x, y, epochs=1, verbose=0)
    before = model.evaluate(x, y, return_dict=True, verbose=0)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(restored.loss, losses.WeightedSum)
    after = restored.evaluate(x, y, return_dict=True, verbose=0)
    for key in ("loss", "miou", "mean_accuracy"):
        assert after[key] == pytest.approx(before[key], rel=1e-5)
