"""``tf.distribute`` strategies by name (for ``--strategy``).

This module uses TensorFlow directly: Keras 3 trains under a
``tf.distribute`` strategy scope on the TensorFlow backend.
"""

import json
import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def read_tf_config():
    """Parsed and checked ``TF_CONFIG`` environment variable, or None if unset.

    Raises:
        ValueError: TF_CONFIG is not JSON or lacks ``cluster`` / ``task``.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}.") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError('TF_CONFIG needs a "cluster" dict, e.g. {"worker": ["host1:port", ...]}.')
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError('TF_CONFIG needs a "task" dict with "type" and "index", e.g. {"type": "worker", "index": 0}.')
    members = cluster.get(task["type"])
    if not isinstance(members, list) or not 0 <= int(task["index"]) < len(members):
        raise ValueError(
            f"TF_CONFIG task {task} does not name a member of cluster {cluster}."
        )
    return config


def is_chief(tf_config=None):
    """Whether this process should write shared artefacts (checkpoints, logs).

    True without a cluster; otherwise for task type "chief", or for worker 0
    when the cluster has no "chief" entry (the MultiWorkerMirroredStrategy
    convention).
    """
    config = read_tf_config() if tf_config is None else tf_config
    if config is None:
        return True
    task = config["task"]
    if "chief" in config["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and int(task["index"]) == 0


def task_id(tf_config=None):
    """``"<type>-<index>"`` of this process in TF_CONFIG, or "local" without one."""
    config = read_tf_config() if tf_config is None else tf_config
    if config is None:
        return "local"
    return f"{config['task']['type']}-{int(config['task']['index'])}"


def get_strategy(name="default", devices=None):
    """A ``tf.distribute.Strategy`` by name.

    Args:
        name: "default" (no distribution: one device, the current default
            strategy), "mirrored" (synchronous data parallelism over the
            local GPUs, or ``devices``), "multi_worker" (synchronous data
            parallelism across machines; reads the cluster from the
            ``TF_CONFIG`` environment variable, see ``read_tf_config``; returns
            this module's ``MultiWorkerMirroredStrategy``, which works around
            Keras 3 bugs). Every worker runs the same command; without
            TF_CONFIG it trains as a single worker.
        devices: for "mirrored" only, an optional list of device names such
            as ``["/gpu:0", "/gpu:1"]``.

    Build and compile the model inside ``strategy.scope()``; the batch size
    given to ``fit`` is the global batch, split across replicas.

    Raises:
        ValueError: unknown name (the message lists the known ones), devices
            given for a strategy other than "mirrored", or a malformed TF_CONFIG.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}. Known strategies: {', '.join(STRATEGIES)}.")
    if devices is not None and name != "mirrored":
        raise ValueError(f"devices can only be given for the 'mirrored' strategy, not {name!r}.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    # Validate first: TF's own parser fails late and obscurely on a bad TF_CONFIG.
    read_tf_config()
    return MultiWorkerMirroredStrategy()


class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``tf.distribute.MultiWorkerMirroredStrategy`` that Keras 3 ``fit`` can drive.

    Keras 3.15 makes two ``strategy.reduce`` calls that the collective
    implementation rejects (keras-team/keras#20585): it reduces a whole
    ``(x, y)`` batch of per-replica values in one call when it builds the
    model ("Attempt to convert a value (PerReplica...)"), and it averages the
    per-step logs, which are scalars, with ``axis=0`` ("Invalid reduction
    dimension 0 for input with 0 dimensions"). Here nested values are reduced
    leaf by leaf, and ``axis`` on a scalar means "across replicas" (the only
    reading a scalar allows). Non-scalar values in the logs, such as
    ``kseg.metrics.PerClassIoU``, are still averaged over their first axis by
    Keras, so log scalar metrics when training multi-worker.
    """

    def reduce(self, reduce_op, value, axis):
        if isinstance(value, (tuple, list, dict)):
            return tf.nest.map_structure(lambda leaf: self.reduce(reduce_op, leaf, axis), value)
        if axis is not None and _rank(value) == 0:
            axis = None
        return super().reduce(reduce_op, value, axis)


def _rank(value):
    if isinstance(value, tf.distribute.DistributedValues):
        value = value.values[0]
    shape = getattr(value, "shape", None)
    return None if shape is None else shape.rank
