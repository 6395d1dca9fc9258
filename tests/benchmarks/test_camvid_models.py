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


def test_tta_cost_counts_the_views_pixels():
    assert camvid_models.tta_cost("flip") == 2
    assert camvid_models.tta_cost("0.5,1") == pytest.approx(1.25)
    assert camvid_models.tta_cost("flip,0.75,1,1.25,1.5") == pytest.approx(2 * (0.5625 + 1 + 1.5625 + 2.25))


def test_tta_export_is_the_checkpoint_averaged_over_its_views(tmp_path):
    """The TTA row's files compute what the checkpoint wrapped in with_tta computes."""
    import keras
    import numpy as np

    from kseg.inference import load_predictor, tflite_predictor
    from kseg.models import unet, with_tta

    model = unet(num_classes=3, input_shape=(None, None, 3), base_filters=4, depth=2)
    checkpoint = tmp_path / "tiny.keras"
    model.save(checkpoint)
    saved, tflite = camvid_models.export_tta(checkpoint, "flip,1,1.5", tmp_path / "out")
    image = np.random.default_rng(0).integers(0, 256, (1, *camvid_models.SIZE, 3)).astype("uint8")
    expected = np.argmax(with_tta(keras.saving.load_model(checkpoint), flip=True, scales=(1.0, 1.5))(
        image.astype("float32")), axis=-1)
    assert np.mean(load_predictor(saved).classes(image) == expected) > 0.999
    assert np.mean(tflite_predictor(tflite, num_threads=1).classes(image) == expected) > 0.99
