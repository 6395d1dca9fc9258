"""The Ray engine on a local Ray (2 CPUs, no dashboard, a small object store): its outputs are the local
engine's byte for byte, bad files are reported the same way, and a rerun resumes."""

import json
import pickle

import pytest

from kseg.inference import ModelSpec, keras_predictor, list_tasks, predict_many
from kseg.inference.process import Options
from tests.inference.predict_inputs import random_image, save, tiny_model, write_bad_files

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A .keras model, images of three sizes in two folders (one stem twice), and bad files."""
    root = tmp_path_factory.mktemp("ray")
    tiny_model().save(root / "m.keras")
    for seed, (name, size) in enumerate([("a/x.png", (20, 30)), ("b/x.jpg", (33, 17)), ("c.png", (8, 8)),
                                         ("d.png", (20, 30)), ("e.jpg", (40, 24))]):
        save(root / "in" / name, random_image(seed, *size), quality=90)
    reasons = write_bad_files(root / "in" / "bad")
    return root, reasons


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow  # two Ray actor pools start (each imports TensorFlow): ~50 s on 2 loaded cores
def test_ray_outputs_equal_the_local_ones_byte_for_byte_and_a_rerun_resumes(local_ray, inputs):
    root, reasons = inputs
    spec = ModelSpec(str(root / "m.keras"))
    local = predict_many(keras_predictor(tiny_model()), [root / "in"], root / "local", recursive=True,
                         progress=False)
    remote = predict_many(spec, [root / "in"], root / "ray", engine="ray", recursive=True, progress=False, workers=2,
                          batch_size=2)
    assert (remote["done"], remote["skipped"], remote["failed"]) == (5, 0, 4) == (
        local["done"], local["skipped"], local["failed"])
    local_files, ray_files = _files(root / "local"), _files(root / "ray")
    assert sorted(ray_files) == sorted(local_files) and len(ray_files) == 5 * 3 + 1
    assert {"a/x_classes.png", "b/x_classes.png"} <= set(ray_files)
    assert all(ray_files[name] == local_files[name] for name in local_files if name != "failures.jsonl")
    failures = [json.loads(line) for line in ray_files["failures.jsonl"].decode().splitlines()]
    assert failures == [{"input": str(root / "in" / "bad" / n), "error": reasons[n]} for n in sorted(reasons)]
    again = predict_many(spec, [root / "in"], root / "ray", engine="ray", recursive=True, progress=False, workers=1)
    assert (again["done"], again["skipped"], again["failed"]) == (0, 5, 4)
    assert _files(root / "ray") == ray_files


def test_the_ray_engine_takes_a_spec_not_a_loaded_model(inputs):
    root, _ = inputs
    # What engines ship to workers pickles.
    spec, task = ModelSpec(str(root / "m.keras"), tta="flip", tile=(16, 16)), list_tasks([root / "in"], "o")[0]
    assert pickle.loads(pickle.dumps((spec, task, Options()))) == (spec, task, Options())
    with pytest.raises(ValueError, match="the ray engine loads the model in each worker: give a ModelSpec"):
        predict_many(keras_predictor(tiny_model()), [root / "in"], root / "x", engine="ray", progress=False)
