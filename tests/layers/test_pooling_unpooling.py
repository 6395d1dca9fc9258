import numpy as np
import pytest
import tensorflow as tf

from kseg.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D


def numpy_pool_argmax(x, pool, stride, padding):
    """Reference: first maximum in row-major window order, per-sample flat index."""
    b, h, w, c = x.shape
    if padding == "same":
        oh, ow = -(-h // stride), -(-w // stride)
        top = max((oh - 1) * stride + pool - h, 0) // 2
        left = max((ow - 1) * stride + pool - w, 0) // 2
    else:
        oh, ow = (h - pool) // stride + 1, (w - pool) // stride + 1
        top = left = 0
    pooled = np.zeros((b, oh, ow, c), x.dtype)
    idx = np.zeros((b, oh, ow, c), np.int32)
    for n in range(b):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    best = None
                    for dy in range(pool):
                        for dx in range(pool):
                            y, xx = i * stride + dy - top, j * stride + dx - left
                            if 0 <= y < h and 0 <= xx < w and (best is None or x[n, y, xx, ch] > best[0]):
                                best = (x[n, y, xx, ch], (y * w + xx) * c + ch)
                    pooled[n, i, j, ch], idx[n, i, j, ch] = best
    return pooled, idx


def numpy_unpool(values, indices, out_h, out_w):
    b, _, _, c = values.shape
    out = np.zeros((b, out_h * out_w * c), values.dtype)
    for n in range(b):
        np.add.at(out[n], indices[n].ravel(), values[n].ravel())
    return out.reshape(b, out_h, out_w, c)


CASES = [((2, 8, 8, 3), "valid"), ((2, 45, 60, 4), "same"), ((1, 7, 9, 2), "same"), ((1, 7, 9, 2), "valid")]


@pytest.mark.parametrize("implementation", ["builtin", "tf_op"])
@pytest.mark.parametrize("shape,padding", CASES)
def test_pool_indices_match_numpy(shape, padding, implementation):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    pooled, idx = MaxPoolingWithArgmax2D(2, padding=padding, implementation=implementation)(x)
    ref_pooled, ref_idx = numpy_pool_argmax(x, 2, 2, padding)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    np.testing.assert_array_equal(pooled.numpy(), ref_pooled)


def test_overlapping_windows_use_tf_op_and_match_numpy():
    x = np.random.default_rng(2).normal(size=(1, 9, 11, 2)).astype("float32")
    layer = MaxPoolingWithArgmax2D(3, strides=2, padding="valid")
    assert layer.supports_jit is False  # no XLA kernel for the TF op
    _, idx = layer(x)
    np.testing.assert_array_equal(idx.numpy(), numpy_pool_argmax(x, 3, 2, "valid")[1])


def test_tie_rule_first_maximum_in_row_major_order_both_implementations():
    x = np.zeros((1, 4, 4, 1), "float32")
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 1.0  # tie in window (0, 0): (0,1) comes first
    # window (0, 1) is all zeros: the first position (0, 2) wins
    for impl in ("builtin", "tf_op"):
        _, idx = MaxPoolingWithArgmax2D(2, implementation=impl)(x)
        np.testing.assert_array_equal(idx.numpy().ravel(), [1, 2, 8, 10])


@pytest.mark.parametrize("implementation", ["compare", "scatter"])
@pytest.mark.parametrize("shape,padding", CASES)
def test_unpool_puts_values_back_at_exact_positions(shape, padding, implementation):
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    pooled, idx = MaxPoolingWithArgmax2D(2, padding=padding)(x)
    values = pooled.numpy() * 10.0 + 1.0  # processed values, not the originals
    out = MaxUnpooling2D(2, implementation=implementation)([values, idx, x]).numpy()
    assert out.shape == x.shape  # 45x60 -> 23x30 -> 45x60 round trip
    np.testing.assert_allclose(out, numpy_unpool(values, idx.numpy(), shape[1], shape[2]), rtol=0, atol=0)
    # non-zeros only at argmax positions: where x equals its pooled maximum
    nonzero = out != 0
    assert nonzero.sum() == values.size


def test_unpool_without_reference_doubles_size():
    x = np.random.default_rng(4).normal(size=(2, 6, 10, 3)).astype("float32")
    pooled, idx = MaxPoolingWithArgmax2D(2)(x)
    out = MaxUnpooling2D(2)([pooled, idx]).numpy()
    assert out.shape == (2, 6, 10, 3)
    mask = out != 0
    np.testing.assert_array_equal(out[mask], x[mask])  # values sit where they came from


def test_unpool_gradient_flows_to_values():
    x = tf.constant(np.random.default_rng(5).normal(size=(1, 4, 4, 2)).astype("float32"))
    pooled, idx = MaxPoolingWithArgmax2D(2)(x)
    with tf.GradientTape() as tape:
        tape.watch(pooled)
        out = MaxUnpooling2D(2)([pooled, idx])
        loss = tf.reduce_sum(out * 3.0)
    np.testing.assert_allclose(tape.gradient(loss, pooled).numpy(), np.full(pooled.shape, 3.0))


def test_builtin_pooling_runs_under_xla():
    x = tf.constant(np.random.default_rng(6).normal(size=(1, 7, 9, 2)).astype("float32"))
    layer, unpool = MaxPoolingWithArgmax2D(2, padding="same"), MaxUnpooling2D(2)

    @tf.function(jit_compile=True)
    def f(t):
        p, i = layer(t)
        return unpool([p, i, t])

    eager = unpool([*layer(x), x])
    np.testing.assert_array_equal(f(x).numpy(), eager.numpy())


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"pool_size": 0}, "pool_size"),
        ({"strides": (2, -1)}, "strides"),
        ({"padding": "full"}, "padding"),
        ({"implementation": "magic"}, "implementation"),
        ({"pool_size": 3, "strides": 2, "implementation": "builtin"}, "non-overlapping"),
    ],
)
def test_pooling_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaxPoolingWithArgmax2D(**kwargs)


def test_unpooling_argument_errors():
    with pytest.raises(ValueError, match="size"):
        MaxUnpooling2D(size=(2, 0))
    with pytest.raises(ValueError, match="implementation"):
        MaxUnpooling2D(implementation="gather")
    values = np.zeros((1, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match="indices"):
        MaxUnpooling2D(2)([values, np.zeros((1, 4, 5, 3), "int32")])
    with pytest.raises(ValueError, match=r"\[values, indices\]"):
        MaxUnpooling2D(2)([values])
