"""benchmarks.predict_engines' pieces on a fake CamVid folder: the first N test images linked, one engine timed."""

from benchmarks import predict_engines as bench
from kseg.inference import ModelSpec
from tests.inference.predict_inputs import random_image, save, tiny_model


def test_links_the_first_test_images_and_times_the_local_engine(tmp_path):
    camvid = tmp_path / "camvid"
    for index in range(3):
        save(camvid / "test" / f"{index}.png", random_image(index))
    (camvid / "test.txt").write_text("".join(f"test/{i}.png testannot/{i}.png\n" for i in range(3)))
    (tmp_path / "in").mkdir()
    assert bench._link_images(camvid, 2, tmp_path / "in") == 2
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["0.png", "1.png"]
    tiny_model().save(tmp_path / "m.keras")
    wall, results = bench._timed("local", ModelSpec(str(tmp_path / "m.keras")), tmp_path / "in", tmp_path / "out", {})
    assert [r.status for r in results] == ["done", "done"] and wall > 0
    assert sorted(bench._files(tmp_path / "out")) == sorted(f"{i}_{kind}.png" for i in range(2)
                                                            for kind in ("classes", "mask", "overlay"))
