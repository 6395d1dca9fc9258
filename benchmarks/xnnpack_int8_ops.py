"""Which TFLite int8 ops the XNNPACK delegate runs, checked on this machine's runtime (ai-edge-litert).

Each probe is a tiny full-integer model ``conv 1x1 -> OP -> conv 1x1`` (float
in and out, QUANTIZE/DEQUANTIZE at the ends). After the interpreter applies
XNNPACK, each delegated partition is one ``DELEGATE`` node: one partition
means XNNPACK took OP; two mean OP stayed on TFLite's own kernels and split
the graph. Prints a Markdown table (docs/deployment.md).

    python -m benchmarks.xnnpack_int8_ops
"""

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def _probes():
    import keras
    from keras import ops

    def resize(x):
        return keras.layers.Resizing(16, 16, interpolation="bilinear")(x)

    return {
        "PRELU (per-channel alpha)": lambda x: keras.layers.PReLU(shared_axes=[1, 2])(x),
        "LEAKY_RELU": lambda x: keras.layers.LeakyReLU(negative_slope=0.1)(x),
        "RELU (after ADD)": lambda x: keras.layers.ReLU()(keras.layers.Add()([x, x])),
        "ADD": lambda x: keras.layers.Add()([x, keras.layers.Conv2D(8, 1)(x)]),
        # after an ADD: a MUL right after a conv is folded into it
        "MUL (per-channel constant)": lambda x: keras.layers.Lambda(
            lambda t: t * np.linspace(0.1, 2, 8).astype("float32"))(keras.layers.Add()([x, x])),
        "CONCATENATION": lambda x: keras.layers.Concatenate()([x, keras.layers.Conv2D(8, 1)(x)]),
        "DEPTHWISE_CONV_2D": lambda x: keras.layers.DepthwiseConv2D(3, padding="same")(x),
        "DEPTHWISE_CONV_2D (dilated)": lambda x: keras.layers.DepthwiseConv2D((3, 1), padding="same", dilation_rate=(4, 1))(x),
        "AVERAGE_POOL_2D": lambda x: keras.layers.AveragePooling2D(3, strides=2, padding="same")(x),
        "MAX_POOL_2D": lambda x: keras.layers.MaxPooling2D(2, padding="same")(x),
        "RESIZE_BILINEAR": resize,
        "MINIMUM": lambda x: keras.layers.Lambda(lambda t: ops.minimum(t, 0.0))(x),
        "MAXIMUM": lambda x: keras.layers.Lambda(lambda t: ops.maximum(t, 0.1 * t))(x),
        "LOGISTIC": lambda x: keras.layers.Activation("sigmoid")(x),
        "HARD_SWISH": lambda x: keras.layers.Activation("hard_swish")(x),
    }


def partitions(build):
    """(ops in the int8 file, DELEGATE partitions after XNNPACK) for ``conv -> build -> conv``."""
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    inputs = keras.Input((8, 8, 8), batch_size=1)
    x = keras.layers.Conv2D(8, 1)(inputs)
    x = build(x)
    model = keras.Model(inputs, keras.layers.Conv2D(4, 1)(x))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as directory:
        model.export(directory, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(directory)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.representative_dataset = lambda: ([rng.normal(size=(1, 8, 8, 8)).astype("float32")] for _ in range(8))
        content = converter.convert()
    interpreter = Interpreter(model_content=content, num_threads=2)
    interpreter.allocate_tensors()
    names = [op["op_name"] for op in interpreter._get_ops_details()]  # DELEGATE nodes come after the model's own
    own = [name for name in names if name != "DELEGATE"]
    return own, names.count("DELEGATE")


def main():
    rows = []
    for label, build in _probes().items():
        own, count = partitions(build)
        verdict = "yes" if count == 1 else f"no ({count} partitions)"
        rows.append(f"| {label} | {', '.join(sorted(set(own) - {'QUANTIZE', 'DEQUANTIZE', 'CONV_2D'})) or '-'} | {verdict} |")
        print(rows[-1], file=sys.stderr, flush=True)
    print("| op (int8) | ops in the file besides conv/quantize | XNNPACK runs it |\n|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
