"""The Ray engine: tasks spread over a pool of Ray Data actors, each loading the model once.

Needs the ``ray`` extra (``pip install -e ".[ray]"``). Each actor runs
``kseg.inference.process.process_task`` (the local engine's one-task step),
so outputs, resume and error reports are the local engine's; only the
driver's loop differs. Inputs and outputs may be local paths (on a cluster:
a folder every node mounts) or URLs fsspec understands (``s3://...``).
"""

import dataclasses
import logging

import numpy as np

from kseg.inference.process import ModelSpec, Options, Result, process_task
from kseg.inference.tasks import Task

_FIELDS = [field.name for field in dataclasses.fields(Result)]


class _Worker:
    """A Ray Data callable class: ``__init__`` runs once per actor (loads the model), ``__call__`` per batch."""

    def __init__(self, spec, options):
        self.predictor, self.options = spec.load(), options

    def __call__(self, batch):
        tasks = [Task(str(s), str(k), str(o)) for s, k, o in zip(batch["source"], batch["key"], batch["output_dir"])]
        results = [process_task(self.predictor, task, self.options).as_row() for task in tasks]
        # Arrow columns: no None in a string column.
        return {name: np.array([r[name] or "" for r in results], dtype=object) for name in _FIELDS}


def _require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise ValueError(f'--engine ray needs Ray Data ({error.name} is missing): pip install -e ".[ray]"') from None
    return ray


def ray_engine(spec, tasks, options=Options(), *, address=None, workers=1, batch_size=8, gpus_per_worker=0.0,
               cpus_per_worker=1.0):
    """Yield the ``Result`` of each task as Ray Data hands them back (in no set order).

    Args:
        spec: ``ModelSpec``; every actor loads it itself.
        tasks, options: as ``local_engine``.
        address: the Ray cluster (``ray start --head`` prints it; ``"auto"``
            finds one on this machine); None starts a local Ray, unless one is
            already running in this process. A Ray started here is shut down
            at the end.
        workers: actors (model copies) in the pool.
        batch_size: tasks handed to an actor at a time; each image still runs at its own size.
        gpus_per_worker, cpus_per_worker: what Ray reserves for each actor.

    Raises:
        ValueError: Ray is not installed, or ``spec`` is not a ``ModelSpec``.
    """
    if not isinstance(spec, ModelSpec):
        raise ValueError(f"the ray engine loads the model in each worker: give a ModelSpec, not {type(spec).__name__}.")
    ray = _require_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except ConnectionError as error:
            raise ValueError(f"--address {address!r}: no Ray cluster answered ({error}); start one with "
                             "`ray start --head`.") from None
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the driver prints its own progress
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # no execution-plan or progress-bar notes per run
        rows = [task.as_row() for task in tasks]
        if not rows:
            return
        # At least two blocks per actor, so every actor gets work even when the tasks fit in one batch.
        blocks = min(len(rows), max(-(-len(rows) // batch_size), 2 * workers))
        dataset = ray.data.from_items(rows, override_num_blocks=blocks)
        dataset = dataset.map_batches(
            _Worker, fn_constructor_kwargs={"spec": spec, "options": options}, batch_size=batch_size,
            batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers),
            num_gpus=gpus_per_worker or None, num_cpus=cpus_per_worker)
        for row in dataset.iter_rows():
            yield Result(**{name: (row[name] or None) for name in _FIELDS})
    finally:
        if started:
            ray.shutdown()
