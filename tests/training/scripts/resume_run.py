"""Tiny training run used by test_resume.py; may hang after an epoch so the test can kill it.

Usage: python resume_run.py OUTPUT_DIR EPOCHS [HANG_AFTER_EPOCH]
"""

import os
import sys
import time

import numpy as np

import keras

from kseg import losses, metrics
from kseg.training import PolyLearningRate, standard_callbacks

output_dir, epochs = sys.argv[1], int(sys.argv[2])
hang_after = int(sys.argv[3]) if len(sys.argv) > 3 else -1


class Marker(keras.callbacks.Callback):
    """Records each epoch run; after the standard callbacks, so the backup exists."""

    def on_epoch_begin(self, epoch, logs=None):
        with open(os.path.join(output_dir, "ran.txt"), "a") as f:
            f.write(f"{os.getpid()} {epoch}\n")

    def on_epoch_end(self, epoch, logs=None):
        open(os.path.join(output_dir, f"epoch_{epoch}.done"), "w").close()
        if epoch == hang_after:
            time.sleep(600)


rng = np.random.default_rng(0)
x = rng.uniform(0, 255, size=(16, 16, 16, 3)).astype(np.float32)
y = (x[..., 0] > 127).astype(np.int32)
keras.utils.set_random_seed(0)
inputs = keras.Input((16, 16, 3))
h = keras.layers.Rescaling(1 / 255.0)(inputs)
h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(h)
model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(h))
model.compile(
    optimizer=keras.optimizers.SGD(PolyLearningRate(0.1, decay_steps=epochs * 4)),
    loss=losses.CrossEntropy(),
    metrics=[metrics.MeanIoU(2)],
)
callbacks = standard_callbacks(output_dir, tensorboard=False, verbose=0) + [Marker()]
model.fit(x, y, batch_size=4, epochs=epochs, validation_data=(x[:4], y[:4]),
          callbacks=callbacks, verbose=0)
print("finished")
