"""Training curves: what each plotted line is called."""

import matplotlib.axes
import pytest

from kseg.inference import save_training_curves

LOG = "epoch,loss,miou,val_loss,val_miou\n0,0.9,0.41,0.8,0.45\n1,0.7,0.52,0.6,0.55\n"


def _labels(tmp_path, monkeypatch, **kwargs):
    (tmp_path / "log.csv").write_text(LOG)
    labels = []
    plot = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot",
                        lambda self, *args, **kw: labels.append(kw.get("label")) or plot(self, *args, **kw))
    assert save_training_curves(tmp_path / "log.csv", tmp_path / "curves.png", **kwargs) == 2
    assert (tmp_path / "curves.png").stat().st_size > 0
    return labels


def test_val_curves_are_called_val_by_default(tmp_path, monkeypatch):
    assert _labels(tmp_path, monkeypatch) == ["loss", "val_loss", "miou", "val_miou"]


def test_a_run_that_trains_on_its_val_images_names_those_curves_for_what_they_measure(tmp_path, monkeypatch):
    labels = _labels(tmp_path, monkeypatch, val_label="fit monitor (val images, trained on)")
    assert labels == ["loss", "loss, fit monitor (val images, trained on)",
                      "miou", "miou, fit monitor (val images, trained on)"]
    assert not [label for label in labels if label.startswith("val")]


def test_an_empty_log_is_refused_by_name(tmp_path):
    (tmp_path / "log.csv").write_text("epoch,loss\n")
    with pytest.raises(ValueError, match="log.csv.*has no epochs"):
        save_training_curves(tmp_path / "log.csv", tmp_path / "curves.png")
