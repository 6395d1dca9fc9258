"""Train a tiny model on 1 device and with MirroredStrategy over 2 logical CPUs.

Usage: python mirrored_run.py RESULT_JSON. Writes the largest weight
difference and the mIoU evaluated under the strategy and with NumPy.
"""

import json
import sys

import tensorflow as tf

# Must happen before TensorFlow initialises its devices.
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kseg import losses, metrics  # noqa: E402
from kseg.training import get_strategy  # noqa: E402

rng = np.random.default_rng(0)
x = rng.uniform(0, 255, size=(16, 12, 12, 3)).astype(np.float32)
y = rng.integers(0, 3, size=(16, 12, 12)).astype(np.int32)
y[:, :, 0] = 255  # same ignored count per image, so per-replica N_valid is equal


def build():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((12, 12, 3))
    h = keras.layers.Rescaling(1 / 255.0)(inputs)
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(h)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(h))
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=losses.CrossEntropy(),
                  metrics=[metrics.MeanIoU(3)])
    return model


def train(strategy):
    with strategy.scope():
        model = build()
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    result = model.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
    return model, result


single, single_result = train(get_strategy("default"))
strategy = get_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
mirrored, mirrored_result = train(strategy)
diff = max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), mirrored.get_weights()))
moved = max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), build().get_weights()))
report = metrics.report_from_confusion(metrics.confusion_matrix(y, mirrored.predict(x, verbose=0), 3))
with open(sys.argv[1], "w") as f:
    json.dump({
        "replicas": strategy.num_replicas_in_sync,
        "max_weight_diff": diff,
        "max_weight_change": moved,
        "single_miou": single_result["miou"],
        "mirrored_miou": mirrored_result["miou"],
        "numpy_miou": report["miou"],
        "single_loss": single_result["loss"],
        "mirrored_loss": mirrored_result["loss"],
    }, f)
