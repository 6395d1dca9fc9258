"""kseg losses accept Keras's ``reduction=``; "none" gives the per-pixel map."""

import keras
import numpy as np
import pytest

from kseg import losses

Y = np.array([[[0, 1, 2], [255, 1, 0]]], np.int32)
LOGITS = np.random.default_rng(1).normal(size=(1, 2, 3, 3)).astype(np.float32)


def _ce_map(weights=None):
    x = LOGITS[0].astype(np.float64)
    lp = x - x.max(-1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    out = np.zeros(Y.shape[1:])
    for i, j in np.ndindex(out.shape):
        c = Y[0, i, j]
        if c != 255:
            out[i, j] = -lp[i, j, c] * (1.0 if weights is None else weights[c])
    return out[None]


def test_none_sum_and_means_by_value():
    pixel = _ce_map()
    none = losses.CrossEntropy(reduction="none")(Y, LOGITS)
    assert none.shape == (1, 2, 3)
    np.testing.assert_allclose(np.asarray(none), pixel, rtol=1e-5)
    assert np.asarray(none)[0, 1, 0] == 0.0  # the ignored pixel
    np.testing.assert_allclose(np.asarray(losses.CrossEntropy(reduction=None)(Y, LOGITS)), pixel, rtol=1e-5)
    assert float(losses.CrossEntropy(reduction="sum")(Y, LOGITS)) == pytest.approx(pixel.sum(), rel=1e-5)
    for mean in ("sum_over_batch_size", "mean"):
        assert float(losses.CrossEntropy(reduction=mean)(Y, LOGITS)) == pytest.approx(pixel.sum() / 5, rel=1e-5)
    w = [1.0, 2.0, 4.0]
    weighted = _ce_map(w)
    ce = losses.CrossEntropy(class_weights=w, reduction="mean_with_sample_weight")
    # PyTorch's weighted mean: divided by sum of w[y] over valid pixels (1+2+4+2+1).
    assert float(ce(Y, LOGITS)) == pytest.approx(weighted.sum() / 10, rel=1e-5)
    assert float(losses.CrossEntropy(class_weights=w)(Y, LOGITS)) == pytest.approx(weighted.sum() / 5, rel=1e-5)


def test_focal_and_weighted_sum_maps_and_config_round_trip():
    focal = losses.FocalLoss(gamma=0.0, reduction="none")
    np.testing.assert_allclose(np.asarray(focal(Y, LOGITS)), _ce_map(), rtol=1e-5)
    both = losses.WeightedSum([(losses.CrossEntropy(), 1.0), (losses.FocalLoss(gamma=0.0), 0.5)],
                              reduction="none")
    np.testing.assert_allclose(np.asarray(both(Y, LOGITS)), 1.5 * _ce_map(), rtol=1e-5)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(both))
    np.testing.assert_allclose(np.asarray(clone(Y, LOGITS)), 1.5 * _ce_map(), rtol=1e-5)
    assert losses.CrossEntropy.from_config(losses.CrossEntropy(reduction="sum").get_config()).reduction == "sum"
    assert "reduction" not in losses.CrossEntropy().get_config()  # old configs stay as they were


def test_bad_reductions_are_refused():
    with pytest.raises(ValueError, match=r"^CrossEntropy: reduction must be one of .*got 'avg'\.$"):
        losses.CrossEntropy(reduction="avg")
    with pytest.raises(ValueError, match=r"^DiceLoss: reduction must be one of \['sum_over_batch_size', 'mean'\]"):
        losses.DiceLoss(reduction="none")
