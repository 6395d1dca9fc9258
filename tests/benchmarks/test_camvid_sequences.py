import numpy as np

from benchmarks import camvid_sequences
from kseg.data.camvid import camvid
from kseg.inference import Predictor, evaluate


def _brightness_predictor():
    """Class 0 (sky) where a pixel is bright, 3 (road) elsewhere: answers that differ by sequence."""
    return Predictor("brightness", "keras", lambda images: np.where(images.mean(-1) > 100, 0, 3), num_classes=11)


def test_sequence_of_camvid_file_names():
    assert camvid_sequences.sequence_of("test/Seq05VD_f00060.png") == "Seq05VD"
    assert camvid_sequences.sequence_of("/x/train/0001TP_006690.png") == "0001TP"


def test_per_sequence_subsets_split_the_evaluate_confusion(camvid_root):
    subsets = camvid_sequences.sequence_subsets(camvid(camvid_root, "test"), max_images=70)
    # test.txt lists the 62 dusk 0001TP frames first, then Seq05VD.
    assert {name: len(subset.files) for name, subset in subsets.items()} == {"0001TP": 62, "Seq05VD": 8}
    by_sequence = {name: np.asarray(evaluate(_brightness_predictor(), subset, num_overlays=0)["confusion_matrix"])
                   for name, subset in subsets.items()}
    report = evaluate(_brightness_predictor(), camvid(camvid_root, "test"), max_images=70, num_overlays=0)
    np.testing.assert_array_equal(sum(by_sequence.values()), np.asarray(report["confusion_matrix"]))
    # and each sequence gets its own images' pixels: the first 62 are exactly the 0001TP frames.
    dusk = evaluate(_brightness_predictor(), camvid(camvid_root, "test"), max_images=62, num_overlays=0)
    np.testing.assert_array_equal(by_sequence["0001TP"], np.asarray(dusk["confusion_matrix"]))
