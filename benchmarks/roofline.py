"""Figure 2: FLOPs per image of every registered model at 512x512, and how
close DeepLabV3+ inference gets to the machine's fp32 matmul peak.

FLOPs are counted from each model's own graph at 512x512
(``kseg.models.flops``: convolution and dense MACs x 2); for DeepLabV3+ the
TensorFlow profiler's count of the frozen inference graph (every op,
elementwise included) is given beside it as a cross-check. The peak is a
2048x2048 float32 ``tf.matmul`` measured interleaved with the model's
inference in the same process, so both see the same load.

Run: ``python -m benchmarks.roofline [--quick] [--no-append]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import _common as C  # noqa: E402

SIZE = 512
MATMUL_N = 2048
CLASSES = 12


def profiler_flops(model, input_shape):
    """Total float ops of the frozen inference graph for one image (TF profiler)."""
    from kseg import _compat

    return _compat.profiler_float_ops(model, input_shape)


def matmul_step(n=MATMUL_N):
    """(callable, flops per call) for one n x n float32 matmul."""
    a = tf.random.uniform((n, n), dtype=tf.float32)
    b = tf.random.uniform((n, n), dtype=tf.float32)
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))

    def step():
        matmul().numpy()  # forces completion

    return step, 2 * n**3


def zoo_flops(log=print):
    """dict name -> FLOPs per image at SIZE x SIZE for every registered model."""
    import kseg.models

    counts = {}
    for name in kseg.models.available():
        try:
            model = kseg.models.build(name, num_classes=CLASSES)
            counts[name] = (kseg.models.flops(model, (SIZE, SIZE, 3)), model.count_params())
        except Exception as error:  # one model failing must not hide the others
            counts[name] = (None, f"{type(error).__name__}: {str(error).splitlines()[0][:120]}")
        log(f"  {name}: {counts[name][0] / 1e9:.1f} GFLOPs" if counts[name][0] else f"  {name}: {counts[name][1]}")
        keras.backend.clear_session()
    return counts


QUICK = dict(batch=1, warmup=1, rounds=3, profiler=True)
FULL = dict(batch=2, warmup=2, rounds=8, profiler=True)


def run(quick=False, log=print):
    """Measure figure 2; returns (markdown section, summary dict)."""
    import kseg.models
    from kseg.export.fold_batchnorm import fold_batchnorm

    settings = QUICK if quick else FULL
    load_before = C.load()
    log(f"[roofline] FLOPs at {SIZE}x{SIZE} for {len(kseg.models.available())} models; settings {settings}")
    counts = zoo_flops(log=log)

    model = kseg.models.build("deeplab_v3_plus", num_classes=CLASSES, input_shape=(SIZE, SIZE, 3),
                              backbone="resnet50")
    flops = kseg.models.flops(model, (SIZE, SIZE, 3))
    graph_flops = profiler_flops(model, (SIZE, SIZE, 3)) if settings["profiler"] else None
    folded = fold_batchnorm(model)
    images = np.random.default_rng(0).uniform(0, 255, (settings["batch"], SIZE, SIZE, 3)).astype("float32")
    infer = tf.function(lambda x: model(x, training=False))
    infer_folded = tf.function(lambda x: folded(x, training=False))
    matmul, matmul_flops = matmul_step()
    seconds = C.interleaved(
        {
            "matmul": lambda: [matmul() for _ in range(5)],
            "deeplab": lambda: infer(images).numpy(),
            "deeplab_folded": lambda: infer_folded(images).numpy(),
        },
        warmup=settings["warmup"], rounds=settings["rounds"],
    )
    peak = 5 * matmul_flops / seconds["matmul"]
    achieved = flops * settings["batch"] / seconds["deeplab"]
    achieved_folded = flops * settings["batch"] / seconds["deeplab_folded"]
    log(f"  matmul peak {peak / 1e9:.1f} GFLOP/s; DeepLabV3+ {achieved / 1e9:.1f} GFLOP/s "
        f"({achieved / peak:.2f} of peak), folded BN {achieved_folded / 1e9:.1f} ({achieved_folded / peak:.2f})")

    rows = [
        (name, C.fmt(f / 1e9, 1) if f else "error", C.fmt(p / 1e6) if f else p)
        for name, (f, p) in sorted(counts.items(), key=lambda kv: -(kv[1][0] or 0))
    ]
    summary = {"peak": peak, "achieved": achieved, "fraction": achieved / peak,
               "fraction_folded": achieved_folded / peak, "flops": {k: v[0] for k, v in counts.items()}}
    body = [
        *C.table((f"model (defaults, {CLASSES} classes)", f"GFLOPs/img at {SIZE}x{SIZE}", "params (M)"), rows),
        "",
        *C.table(("quantity", "value"), [
            (f"tf.matmul fp32 {MATMUL_N}x{MATMUL_N} peak", f"{peak / 1e9:.1f} GFLOP/s"),
            ("DeepLabV3+ R50 OS16 FLOPs/img (conv+dense, kseg.models.flops)", f"{flops / 1e9:.1f} G"),
            ("same, all ops of the frozen graph (TF profiler)",
             f"{graph_flops / 1e9:.1f} G" if graph_flops else "n/a"),
            (f"DeepLabV3+ inference, batch {settings['batch']}", f"{settings['batch'] / seconds['deeplab']:.2f} img/s"),
            ("achieved / peak", f"{achieved / 1e9:.1f} / {peak / 1e9:.1f} = {achieved / peak:.2f}"),
            ("achieved / peak, batch norm folded", f"{achieved_folded / 1e9:.1f} / {peak / 1e9:.1f} = "
                                                    f"{achieved_folded / peak:.2f}"),
        ]),
    ]
    settings_text = (
        f"FLOPs at {SIZE}x{SIZE} for every model in kseg.models.available() with default arguments; "
        f"DeepLabV3+ ResNet-50 OS16 float32 inference at {SIZE}x{SIZE}, batch {settings['batch']}, interleaved "
        f"with 5 x {MATMUL_N}^3 matmuls ({settings['warmup']} warm-up, {settings['rounds']} rounds, median)."
    )
    text = C.section("Figure 2: FLOPs and closeness to the fp32 peak (issue 8)", quick=quick,
                     settings=settings_text, load_before=load_before, body=body)
    return text, summary


def main(argv=None):
    C.figure_main(run, __doc__, "batch 1, fewer rounds", argv)


if __name__ == "__main__":
    main()
