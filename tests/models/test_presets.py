"""Presets by name, folder and URL: cards, re-heading, sha256 checks and safe_mode, by value."""

import functools
import http.server
import json
import os
import threading

import keras
import numpy as np
import pytest

import kseg.models
from kseg.models import presets, small

REPO = presets.PRESETS_ROOT.parent

CAMVID_CLASSES = ["sky", "building", "pole", "road", "pavement", "tree", "sign_symbol", "fence", "car",
                  "pedestrian", "bicyclist"]


def _tiny(num_classes=3, seed=0):
    keras.utils.set_random_seed(seed)
    return kseg.models.build("dabnet", num_classes=num_classes, **small.SMALL_CONFIGS["dabnet"])


def _pixels(seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (1, 32, 48, 3)).astype("float32")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A local HTTP server on 127.0.0.1 serving a tiny .keras file and one holding a Lambda layer."""
    root = tmp_path_factory.mktemp("www")
    model = _tiny()
    model.save(root / "tiny.keras")
    digest = presets.sha256_of(root / "tiny.keras")
    (root / f"tiny-{digest[:10]}.keras").write_bytes((root / "tiny.keras").read_bytes())
    (root / "tiny-0123456789.keras").write_bytes((root / "tiny.keras").read_bytes())
    inputs = keras.Input((None, None, 3))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0)(inputs)).save(root / "lambda.keras")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{httpd.server_address[1]}", "model": model, "sha256": digest,
           "lambda_sha256": presets.sha256_of(root / "lambda.keras")}
    httpd.shutdown()


def test_url_with_right_hash_loads_the_model_into_the_cache(server, tmp_path):
    model = kseg.models.from_preset(f"{server['url']}/tiny.keras", file_hash=server["sha256"], cache_dir=tmp_path)
    np.testing.assert_array_equal(model(_pixels()), server["model"](_pixels()))
    assert sorted(os.listdir(tmp_path / "kseg")) == ["tiny.keras"]
    # The name's sha256 prefix (torchvision style) is checked when no file_hash is given; KERAS_HOME is the cache.
    prefixed = f"tiny-{server['sha256'][:10]}.keras"
    os.environ["KERAS_HOME"], old = str(tmp_path / "home"), os.environ.get("KERAS_HOME")
    try:
        kseg.models.from_preset(f"{server['url']}/{prefixed}", num_classes=5)
    finally:
        os.environ.pop("KERAS_HOME") if old is None else os.environ.update(KERAS_HOME=old)
    assert os.listdir(tmp_path / "home" / "kseg") == [prefixed]


@pytest.mark.parametrize("name,file_hash", [("tiny.keras", "ab" * 32), ("tiny-0123456789.keras", None)])
def test_wrong_hash_names_both_and_leaves_nothing_in_the_cache(server, tmp_path, name, file_hash):
    expected = file_hash or "0123456789"
    with pytest.raises(ValueError) as error:
        kseg.models.from_preset(f"{server['url']}/{name}", file_hash=file_hash, cache_dir=tmp_path)
    message = str(error.value)
    assert f"sha256 {server['sha256']} does not match the expected {expected}" in message
    assert "removed from the cache" in message
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_stale_cache_entry_is_fetched_again(server, tmp_path):
    (tmp_path / "kseg").mkdir()
    (tmp_path / "kseg" / "tiny.keras").write_bytes(b"not a model")
    model = kseg.models.from_preset(f"{server['url']}/tiny.keras", file_hash=server["sha256"], cache_dir=tmp_path)
    np.testing.assert_array_equal(model(_pixels()), server["model"](_pixels()))


def test_lambda_layer_is_refused_from_url_and_file(server, tmp_path):
    url = f"{server['url']}/lambda.keras"
    with pytest.raises(ValueError, match=r"lambda\.keras: refused: the file holds a Lambda layer"):
        kseg.models.from_preset(url, file_hash=server["lambda_sha256"], cache_dir=tmp_path)
    with pytest.raises(ValueError, match="refused: the file holds a Lambda layer"):
        kseg.models.from_preset(tmp_path / "kseg" / "lambda.keras")


def test_bad_sources_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown preset 'nope'\. Known presets: camvid_dabnet, camvid_unet"):
        kseg.models.from_preset("nope")
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        kseg.models.from_preset(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="file_hash must be a sha256"):
        kseg.models.from_preset("http://127.0.0.1:9/x.keras", file_hash="xyz")
    with pytest.raises(ValueError, match="file_hash applies to URLs"):
        kseg.models.from_preset("camvid_dabnet", file_hash="ab" * 32)
    (tmp_path / "junk.keras").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.keras: not a Keras model file"):
        kseg.models.from_preset(tmp_path / "junk.keras")


def test_written_preset_round_trips_with_its_wrapper_and_hash(tmp_path):
    model = _tiny()
    folder = presets.write_preset(model, tmp_path / "p", name="tiny", model_kwargs=small.SMALL_CONFIGS["dabnet"],
                                  class_names=["a", "b", "c"], input_scale=0.5, card={"test_miou": 1.0})
    assert sorted(os.listdir(folder)) == ["model.keras", "preset.json"]
    info = kseg.models.preset_info(str(folder))
    assert info["model"] == "dabnet" and info["class_names"] == ["a", "b", "c"] and info["test_miou"] == 1.0
    loaded = kseg.models.from_preset(folder)
    assert loaded.name == "dabnet_x0.5"  # the wrapper is applied after loading, not stored
    np.testing.assert_allclose(loaded(_pixels()), kseg.models.with_input_scale(model, 0.5)(_pixels()), atol=1e-5)
    preset = json.loads((folder / "preset.json").read_text())
    (folder / "preset.json").write_text(json.dumps({**preset, "weights_sha256": "ab" * 32}))
    with pytest.raises(ValueError, match=rf"sha256 {preset['weights_sha256']} does not match the expected"):
        kseg.models.from_preset(folder)
    with pytest.raises(ValueError, match="3 class names for a model with 5 classes"):
        presets.write_preset(_tiny(5), tmp_path / "q", name="x", model_kwargs={}, class_names=["a", "b", "c"])


def test_shipped_presets_and_their_cards():
    assert kseg.models.list_presets() == ["camvid_dabnet", "camvid_unet"]
    for name in kseg.models.list_presets():
        info = kseg.models.preset_info(name)
        assert info["name"] == name and info["class_names"] == CAMVID_CLASSES and info["num_classes"] == 11
        assert "research" in info["license"] and info["reproduce"].startswith("python -m pipelines.evaluate --model")
        report = json.loads((REPO / info["report"].replace(".md", "_figures/report.json")).read_text())
        assert info["test_miou"] == round(100 * report["miou"], 1)
        assert f"--model {os.path.relpath(info['saved_model'], REPO)} " in info["reproduce"]
    assert kseg.models.preset_info("camvid_dabnet")["tta"] == "flip,1,2.75"


def test_shipped_preset_reheads_to_three_classes():
    """CamVid DABNet for your 3 classes: new classifiers (the stride-4 skip's starts at zero, so it
    adds nothing until trained), every other weight the preset's."""
    from kseg.models.registry import head_layers

    camvid = kseg.models.from_preset("camvid_dabnet")
    three = kseg.models.from_preset("camvid_dabnet", num_classes=3)
    assert camvid(_pixels()).shape[-1] == 11 and three(_pixels()).shape[-1] == 3
    assert three.get_layer("classifier").get_weights()[0].shape == (1, 1, 259, 3)
    head = set(head_layers("dabnet"))
    if "skip4_classifier" in {layer.name for layer in three.layers}:
        (kernel,) = three.get_layer("skip4_classifier").get_weights()
        assert kernel.shape[-1] == 3 and not kernel.any()
        assert camvid.get_layer("skip4_classifier").get_weights()[0].any()  # trained: non-zero
    for layer in three.layers:
        if layer.name not in head:
            for a, b in zip(layer.get_weights(), camvid.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b)
