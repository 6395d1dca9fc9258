"""benchmarks.quantization: whole-split mIoU, agreement and op census of .tflite files, and the images it names."""

import json

import numpy as np
import pytest

from benchmarks import quantization


def test_quantization_table_scores_the_split_it_names(tmp_path, capsys):
    import keras

    from kseg import data as kdata
    from kseg import export, models
    from kseg.export.tflite_runtime import TFLiteRunner
    from kseg.metrics import confusion_matrix, scores

    keras.utils.set_random_seed(0)
    model = models.build("unet", num_classes=5, input_shape=(None, None, 3), base_filters=4, depth=2)
    fp32, dynamic = str(tmp_path / "fp32.tflite"), str(tmp_path / "dynamic.tflite")
    export.export_tflite(model, fp32, input_size=(96, 96))
    export.export_tflite(model, dynamic, input_size=(96, 96), quantize="dynamic")
    rows_path = tmp_path / "rows.json"
    assert quantization.main([fp32, dynamic, "--data", "synthetic", "--split", "val", "--limit", "3",
                              "--rounds", "1", "--threads", "1", "--json", str(rows_path)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "val mIoU (3 images)" in header and "test" not in header  # never called test when it is not
    rows = json.loads(rows_path.read_text())
    assert [r["split"] for r in rows] == ["val", "val"] and [r["images"] for r in rows] == [3, 3]
    assert rows[0]["agreement"] == 100.0 and rows[0]["int8_ops"] == 0 and rows[0]["gpu"] == "compatible"
    # The mIoU is the confusion-matrix mIoU of the file's classes on the first 3 images, computed here apart.
    data = kdata.load("synthetic", "val")
    runner, total = TFLiteRunner(fp32, num_threads=1), np.zeros((5, 5), np.int64)
    for image, mask in list(data.dataset.as_numpy_iterator())[:3]:
        classes = runner.outputs(image[None])["classes"][0]
        total += np.asarray(confusion_matrix(mask.reshape(1, -1), classes.reshape(1, -1), 5, data.ignore_id))
    assert rows[0]["miou"] == pytest.approx(100 * float(scores.mean_iou(total)), abs=1e-9)


def test_quantization_rejects_a_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        quantization.main([str(tmp_path / "none.tflite"), "--data", "synthetic"])
    assert "none.tflite" in capsys.readouterr().err
