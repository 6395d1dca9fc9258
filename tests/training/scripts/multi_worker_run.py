"""One worker of a 2-worker MultiWorkerMirroredStrategy run (TF_CONFIG set by the test).

Usage: python multi_worker_run.py OUTPUT_DIR
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

import keras
keras.config.disable_traceback_filtering()

from kseg import losses, metrics
from kseg.training import get_strategy, is_chief, standard_callbacks

output_dir = sys.argv[1]
strategy = get_strategy("multi_worker")
rng = np.random.default_rng(0)
x = rng.uniform(0, 255, size=(16, 12, 12, 3)).astype(np.float32)
y = (x[..., 0] > 127).astype(np.int32)
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).with_options(options)
with strategy.scope():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    h = keras.layers.Rescaling(1 / 255.0)(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(h))
    model.compile(optimizer="sgd", loss=losses.CrossEntropy(), metrics=[metrics.MeanIoU(2)])
history = model.fit(dataset, epochs=1, validation_data=dataset,
                    callbacks=standard_callbacks(output_dir, tensorboard=False, verbose=0), verbose=0)
task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
with open(os.path.join(output_dir, f"worker{task}.json"), "w") as f:
    json.dump({"replicas": strategy.num_replicas_in_sync, "chief": is_chief(),
               "weights": [w.ravel().tolist() for w in model.get_weights()],
               "history": {k: [float(v) for v in vs] for k, vs in history.history.items()}}, f)
