"""benchmarks.shipped_model: every artefact of a version directory against its Keras model."""

import numpy as np
import pytest

from benchmarks import shipped_model


def test_shipped_model_table_matches_an_exact_export(tmp_path):
    import keras

    from kseg import export, models

    images, masks, ignore_id = shipped_model.first_images("synthetic", "val", 2)
    assert images.dtype == np.uint8 and masks.shape == images.shape[:3]
    keras.utils.set_random_seed(0)
    model = models.build("unet", num_classes=6, input_shape=(None, None, 3), base_filters=4, depth=2)
    keras_path = str(tmp_path / "m.keras")
    model.save(keras_path)
    version = export.export_saved_model(model, str(tmp_path), "m")
    export.export_tflite(model, f"{version}/model_fp32.tflite", input_size=images.shape[1:3])
    text = shipped_model.main(["--keras", keras_path, "--version-dir", version, "--data", "synthetic",
                               "--split", "val", "--images", "2", "--threads", "1"])
    rows = [line for line in text.splitlines() if line.startswith("| SavedModel") or line.startswith("| `model")]
    assert len(rows) == 2
    for row in rows:  # float exports of the same weights agree on every pixel and lose no mIoU
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == "100.00%" and cells[4] in ("+0.00", "-0.00")
    keras_miou, _ = shipped_model.rows_for(keras_path, version, images, masks, ignore_id, 1)
    assert f"mIoU {100 * keras_miou:.1f}" in text


def test_shipped_model_rejects_missing_paths(tmp_path, capsys):
    with pytest.raises(SystemExit):
        shipped_model.main(["--keras", str(tmp_path / "none.keras"), "--version-dir", str(tmp_path),
                            "--data", "synthetic"])
    assert "--keras" in capsys.readouterr().err
