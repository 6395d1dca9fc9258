"""The local engine: every task in this process, one after another."""

from kseg.inference.process import ModelSpec, Options, process_task


def local_engine(model, tasks, options=Options()):
    """Yield the ``Result`` of each task, in order.

    Args:
        model: a ``ModelSpec`` (loaded here, once) or an already loaded ``Predictor``.
        tasks: ``kseg.inference.tasks.Task`` list.
        options: ``kseg.inference.process.Options``.
    """
    predictor = model.load() if isinstance(model, ModelSpec) else model
    for task in tasks:
        yield process_task(predictor, task, options)
