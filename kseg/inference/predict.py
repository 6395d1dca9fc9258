"""Predict class maps for many image files: colour masks and overlays, resumable, never stopped by one bad file.

Three pieces: ``kseg.inference.tasks.list_tasks`` lists the work (one task
per image, keyed by its path relative to the folder given);
``kseg.inference.process.process_task`` does one task (read as the
SavedModel's ``predict_encoded`` reads, predict, write atomically, or report
the error); an engine maps tasks (``local``: this process; ``ray``: Ray Data
actors). ``predict_many`` ties them together and summarises.
"""

import json
import os
import sys

from kseg._io import check_writable_dir
from kseg.inference import storage
from kseg.inference.local_engine import local_engine
from kseg.inference.process import (DEFAULT_MAX_IMAGE_SIZE, DONE, FAILED, SKIPPED, ModelSpec, Options,
                                    class_map_image)
from kseg.inference.progress import Progress
from kseg.inference.tasks import IMAGE_SUFFIXES, list_tasks

__all__ = ["ENGINES", "FAILURES_FILENAME", "IMAGE_SUFFIXES", "class_map_image", "predict_files", "predict_many",
           "summary_line"]

FAILURES_FILENAME = "failures.jsonl"
ON_ERROR = ("skip", "stop")


def _ray_engine(*args, **kwargs):
    from kseg.inference.ray_engine import ray_engine  # imports Ray only when asked for

    return ray_engine(*args, **kwargs)


ENGINES = {"local": local_engine, "ray": _ray_engine}


def _check(engine, on_error, max_image_size):
    if engine not in ENGINES:
        raise ValueError(f"engine: unknown {engine!r}; known: {', '.join(ENGINES)}.")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error: {on_error!r} is not one of {', '.join(ON_ERROR)}.")
    if isinstance(max_image_size, bool) or not isinstance(max_image_size, int) or max_image_size < 1:
        raise ValueError(f"--max-image-size must be a positive integer; got {max_image_size!r}.")


def _run(engine_results, tasks, on_error, progress):
    """Drain an engine's results, counting them; the first failure raises when ``on_error == "stop"``."""
    bar = Progress(len(tasks), enabled=progress)
    counts, failures = {DONE: 0, SKIPPED: 0, FAILED: 0}, []
    try:
        for result in engine_results:
            counts[result.status] += 1
            bar.update()
            if result.status == FAILED:
                if on_error == "stop":
                    raise ValueError(f"Cannot predict {result.source!r}: {result.error} "
                                     "(--on-error skip goes on past bad files).")
                failures.append({"input": result.source, "error": result.error})
                if progress:
                    print(f"failed {result.source}: {result.error}", file=sys.stderr, flush=True)
    finally:
        bar.close()
    return counts, failures


def predict_many(model, inputs, output_dir, *, engine="local", recursive=False, overwrite=False, on_error="skip",
                 max_image_size=DEFAULT_MAX_IMAGE_SIZE, palette=None, ignore_id=255, progress=True,
                 **engine_options):
    """Predict every image in ``inputs`` into ``output_dir``; never stopped by one bad file.

    For each image, at its original resolution: ``<key>_classes.png`` (class
    ids, 16-bit when an id exceeds 255), ``<key>_mask.png`` (colours) and
    ``<key>_overlay.png``, where ``<key>`` is the image's path relative to
    the folder given, without suffix (``kseg.inference.tasks``). Outputs are
    written atomically; tasks whose outputs all exist are skipped unless
    ``overwrite``, so rerunning a killed job resumes it.

    Args:
        model: a ``kseg.inference.process.ModelSpec`` (or a model path); the
            local engine also takes a loaded ``Predictor``.
        inputs: image files, folders or URLs (fsspec); ``recursive`` walks subfolders.
        engine: ``"local"`` or ``"ray"``; ``engine_options`` go to it (ray:
            ``address``, ``workers``, ``batch_size``, ``gpus_per_worker``, ``cpus_per_worker``).
        on_error: ``"skip"`` (report a bad input and go on) or ``"stop"``
            (raise ValueError at the first one).
        max_image_size: largest height or width read; checked in the header before decoding.
        palette, ignore_id: mask colours (default: kseg's palette) and the id drawn black.
        progress: a progress bar on a terminal, plain lines otherwise; False: silent.

    Returns:
        dict: ``done``, ``skipped`` (outputs already there), ``failed``
        counts, ``failures`` (``[{"input", "error"}]``, sorted), ``failures_file``
        (``<output_dir>/failures.jsonl``, written when any failed, else None
        and a stale one removed) and ``outputs`` (class-map paths of the
        inputs that did not fail, in input order).

    Raises:
        FileNotFoundError: an input does not exist or a folder holds no image.
        ValueError: bad arguments; two inputs that would write the same
            outputs; the first bad input when ``on_error="stop"``.
    """
    _check(engine, on_error, max_image_size)
    if isinstance(model, (str, os.PathLike)):
        model = ModelSpec(os.fspath(model))
    tasks = list_tasks(inputs, output_dir, recursive=recursive)
    if not storage.is_url(output_dir):
        check_writable_dir(output_dir)
    options = Options(palette=None if palette is None else tuple(map(tuple, palette)), ignore_id=ignore_id,
                      max_image_size=max_image_size, overwrite=overwrite)
    counts, failures = _run(ENGINES[engine](model, tasks, options, **engine_options), tasks, on_error, progress)
    failures_file = storage.join(output_dir, FAILURES_FILENAME)
    if failures:
        failures.sort(key=lambda failure: failure["input"])
        storage.write_bytes(failures_file, "".join(json.dumps(f) + "\n" for f in failures).encode())
    else:
        storage.remove(failures_file)
    failed = {failure["input"] for failure in failures}
    return {**counts, "failures": failures, "failures_file": failures_file if failures else None,
            "outputs": [task.output("classes") for task in tasks if task.source not in failed]}


def summary_line(summary, output_dir):
    """``done 10, skipped 3 (outputs already there), failed 2 (listed in OUT/failures.jsonl)``."""
    line = f"done {summary[DONE]}, skipped {summary[SKIPPED]} (outputs already there), failed {summary[FAILED]}"
    if summary["failures_file"]:
        line += f" (listed in {summary['failures_file']})"
    return f"{line}; predictions in {output_dir}"


def predict_files(predictor, paths, output_dir, *, palette=None, ignore_id=255, recursive=False, overwrite=True,
                  on_error="stop", max_image_size=DEFAULT_MAX_IMAGE_SIZE):
    """``predict_many`` with a loaded ``predictor`` in this process, silently; by default it
    rewrites existing outputs and raises ValueError at the first bad image (as it always did).

    Returns the class-map paths of the images predicted (or skipped as done), in input order.
    """
    return predict_many(predictor, paths, output_dir, recursive=recursive, overwrite=overwrite, on_error=on_error,
                        max_image_size=max_image_size, palette=palette, ignore_id=ignore_id,
                        progress=False)["outputs"]
