"""benchmarks.camvid_models: the size columns of the speed/accuracy table and the versions it reads."""

import pytest

from benchmarks import camvid_models


def test_size_and_flops_of_the_shipped_configs():
    # DABNet at full resolution: the numbers docs/models.md states for kseg.models.flops.
    params, gflops = camvid_models.size_and_flops("configs/camvid_dabnet.yaml")
    assert params == 763_688 and gflops == pytest.approx(6.73, abs=0.005)
    # The stage-2 config trains the same network.
    assert camvid_models.size_and_flops("configs/camvid_dabnet_finetune.yaml") == (params, gflops)


def test_latest_version_is_the_highest_integer(tmp_path):
    for version in ("1", "2", "10", "notes"):
        (tmp_path / "m" / version).mkdir(parents=True)
    assert camvid_models.latest_version("m", base=tmp_path) == tmp_path / "m" / "10"  # 10 > 2, not "10" < "2"
    assert camvid_models.latest_version("absent", base=tmp_path) is None
