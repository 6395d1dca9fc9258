"""Distributed training in subprocesses (device setup must precede TF initialisation)."""

import json

import numpy as np

import pytest

from _training_subprocess import finish, free_ports, run, start


@pytest.mark.slow
def test_mirrored_two_cpus_matches_single_device(tmp_path):
    result_path = tmp_path / "result.json"
    run("mirrored_run.py", result_path, timeout=300)
    result = json.loads(result_path.read_text())
    assert result["replicas"] == 2
    # Training moved the weights, yet both runs end at the same weights.
    assert result["max_weight_change"] > 1e-3
    assert result["max_weight_diff"] < 1e-5
    # The metric state is summed across replicas: same mIoU as NumPy on the predictions.
    assert result["mirrored_miou"] == pytest.approx(result["numpy_miou"], abs=1e-6)
    assert result["mirrored_miou"] == pytest.approx(result["single_miou"], abs=1e-6)
    assert result["mirrored_loss"] == pytest.approx(result["single_loss"], rel=1e-5)


@pytest.mark.slow
def test_multi_worker_two_local_processes(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            workers.append(start("multi_worker_run.py", tmp_path, TF_CONFIG=tf_config))
        outcomes = [finish(worker, timeout=300) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    for code, output in outcomes:
        assert code == 0, output[-4000:]
    reports = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
    assert [r["chief"] for r in reports] == [True, False]
    assert all(r["replicas"] == 2 for r in reports)
    # Synchronous training: both workers saw the same global loss and mIoU.
    assert reports[0]["history"]["loss"] == pytest.approx(reports[1]["history"]["loss"])
    assert 0.0 < reports[0]["history"]["val_miou"][0] <= 1.0
    assert reports[0]["history"]["val_miou"] == pytest.approx(reports[1]["history"]["val_miou"])
    flat = [np.concatenate([np.asarray(w) for w in r["weights"]]) for r in reports]
    np.testing.assert_allclose(flat[0], flat[1], rtol=1e-6)
    # Only the chief writes the shared artefacts.
    assert (tmp_path / "training_log.csv").exists()
    assert (tmp_path / "best.keras").exists()
