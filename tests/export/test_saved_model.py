import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

import toy_models
from kseg import export
from kseg.serving import signatures as sig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _keras_classes(model, images):
    return model(images.astype(np.float32), training=False).numpy().argmax(-1)


def test_layout_labels_metadata(exported):
    _, base, path = exported
    assert path == os.path.join(str(base), "toy", "1")
    assert sorted(os.listdir(os.path.join(base, "toy"))) == ["1"]  # no temporaries left
    extra = os.path.join(path, "assets.extra")
    assert export.read_labels(os.path.join(extra, "labels.txt")) == ["red", "green", "blue"]
    meta = json.load(open(os.path.join(extra, "kseg_export.json")))
    assert meta["num_classes"] == 3 and meta["size_divisor"] == 4 and meta["max_image_size"] == 256


def test_serving_default_matches_keras(exported, loaded, rng):
    model = exported[0]
    images = rng.integers(0, 256, (2, 32, 40, 3), dtype=np.uint8)
    out = loaded.signatures[sig.SERVING_DEFAULT](images=tf.constant(images))
    assert out[sig.CLASSES].dtype == tf.int32 and out[sig.CLASSES].shape == (2, 32, 40)
    logits = model(images.astype(np.float32), training=False).numpy()
    np.testing.assert_array_equal(out[sig.CLASSES].numpy(), logits.argmax(-1))
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    np.testing.assert_allclose(out[sig.PROBABILITIES].numpy(), probs, atol=1e-6)


def test_serving_default_any_size_answers_at_input_resolution(exported, loaded, rng):
    # 30x37 is not a multiple of the model's divisor 4: the graph resizes to
    # 32x40 and back, and the answer must have the input's size.
    model = exported[0]
    images = rng.integers(0, 256, (1, 30, 37, 3), dtype=np.uint8)
    out = loaded.signatures[sig.SERVING_DEFAULT](images=tf.constant(images))
    assert out[sig.CLASSES].shape == (1, 30, 37)
    resized = tf.image.resize(images.astype(np.float32), (32, 40))
    logits = tf.image.resize(model(resized, training=False), (30, 37)).numpy()
    np.testing.assert_array_equal(out[sig.CLASSES].numpy(), logits.argmax(-1))


def test_fixed_size_model(tmp_path, rng):
    model = toy_models.fixed_size()
    path = export.export_saved_model(model, tmp_path, "fixed", warmup=False)
    loaded = tf.saved_model.load(path)
    images = rng.integers(0, 256, (2, 24, 32, 3), dtype=np.uint8)
    out = loaded.signatures[sig.SERVING_DEFAULT](images=tf.constant(images))
    np.testing.assert_array_equal(out[sig.CLASSES].numpy(), _keras_classes(model, images))
    other = rng.integers(0, 256, (1, 50, 20, 3), dtype=np.uint8)
    assert loaded.signatures[sig.SERVING_DEFAULT](images=tf.constant(other))[sig.CLASSES].shape == (1, 50, 20)


def test_predict_encoded_mixed_sizes(exported, loaded, rng):
    model = exported[0]
    a = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    jpeg = tf.io.encode_jpeg(b, quality=95).numpy()
    out = loaded.signatures[sig.PREDICT_ENCODED](image_bytes=tf.constant([tf.io.encode_png(a).numpy(), jpeg]))
    np.testing.assert_array_equal(out[sig.HEIGHTS].numpy(), [32, 16])
    np.testing.assert_array_equal(out[sig.WIDTHS].numpy(), [40, 24])
    classes = out[sig.CLASSES].numpy()
    assert classes.shape == (2, 32, 40)
    np.testing.assert_array_equal(classes[0], _keras_classes(model, a[None])[0])
    decoded_b = tf.io.decode_jpeg(jpeg).numpy()
    np.testing.assert_array_equal(classes[1, :16, :24], _keras_classes(model, decoded_b[None])[0])
    assert (classes[1, 16:] == sig.PAD_CLASS).all() and (classes[1, :, 24:] == sig.PAD_CLASS).all()


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((1, 0, 8, 3), np.uint8), "height must be at least 1"),
        (np.zeros((1, 8, 0, 3), np.uint8), "width must be at least 1"),
        (np.zeros((0, 8, 8, 3), np.uint8), "at least one image"),
        (np.zeros((1, 257, 8, 3), np.uint8), "exceeds the maximum of 256"),
    ],
)
def test_serving_default_bad_images(loaded, images, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures[sig.SERVING_DEFAULT](images=tf.constant(images))


@pytest.mark.parametrize(
    "value",
    [np.zeros((1, 8, 8, 3), np.float32), np.zeros((8, 8, 3), np.uint8), np.zeros((1, 8, 8, 4), np.uint8)],
    ids=["float32", "rank3", "4-channels"],
)
def test_serving_default_rejects_wrong_dtype_rank_channels(loaded, value):
    # The signature's TensorSpec rejects these before any op runs.
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        loaded.signatures[sig.SERVING_DEFAULT](images=tf.constant(value))


def _png_header(width, height):
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"this is not an image", "must be a PNG or JPEG"),
        (b"", "must be a PNG or JPEG"),
        (b"GIF89a" + b"\0" * 40, "must be a PNG or JPEG"),
        # A 100000x100000 PNG header: rejected before any pixel is decoded.
        (_png_header(100000, 100000), "exceeds the maximum of 256"),
        (_png_header(0, 10), "width must be at least 1"),
        (_png_header(10, 10), None),  # header only: decoding fails cleanly
    ],
    ids=["text", "empty", "gif", "bomb", "zero-width", "truncated"],
)
def test_predict_encoded_bad_bytes(loaded, rng, data, message):
    good = tf.io.encode_png(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).numpy()
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures[sig.PREDICT_ENCODED](image_bytes=tf.constant([good, data]))


def test_predict_encoded_rejects_empty_batch_and_large_image(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match="batch is empty"):
        loaded.signatures[sig.PREDICT_ENCODED](image_bytes=tf.constant([], tf.string))
    big = tf.io.encode_png(np.zeros((8, 300, 3), np.uint8)).numpy()
    with pytest.raises(tf.errors.InvalidArgumentError, match="width exceeds the maximum of 256"):
        loaded.signatures[sig.PREDICT_ENCODED](image_bytes=tf.constant([big]))


def test_warmup_requests(exported, loaded):
    path = os.path.join(exported[2], "assets.extra", "tf_serving_warmup_requests")
    requests = export.read_warmup_requests(path)
    assert [r.model_spec.signature_name for r in requests] == [sig.SERVING_DEFAULT, sig.PREDICT_ENCODED]
    assert all(r.model_spec.name == "toy" for r in requests)
    for request in requests:
        (name, proto), = request.inputs.items()
        out = loaded.signatures[request.model_spec.signature_name](**{name: tf.constant(tf.make_ndarray(proto))})
        assert out[sig.CLASSES].shape[1:] == (64, 64)


def test_versions_force_and_names(toy_model, tmp_path):
    first = export.export_saved_model(toy_model, tmp_path, "m", warmup=False)
    second = export.export_saved_model(toy_model, tmp_path, "m", warmup=False)
    seventh = export.export_saved_model(toy_model, tmp_path, "m", version=7, warmup=False)
    assert [os.path.basename(p) for p in (first, second, seventh)] == ["1", "2", "7"]
    assert export.list_versions(tmp_path, "m") == [1, 2, 7]
    marker = os.path.join(seventh, "marker")
    open(marker, "w").close()
    with pytest.raises(FileExistsError, match="version 7 .* force=True"):
        export.export_saved_model(toy_model, tmp_path, "m", version=7, warmup=False)
    assert os.path.exists(marker)
    export.export_saved_model(toy_model, tmp_path, "m", version=7, force=True, warmup=False)
    assert not os.path.exists(marker) and os.path.exists(os.path.join(seventh, "saved_model.pb"))
    assert sorted(os.listdir(os.path.join(tmp_path, "m"))) == ["1", "2", "7"]
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="name must"):
            export.export_saved_model(toy_model, tmp_path, bad)
    with pytest.raises(ValueError, match="version must"):
        export.export_saved_model(toy_model, tmp_path, "m", version=-1)
    with pytest.raises(ValueError, match="class_names has 2 names"):
        export.export_saved_model(toy_model, tmp_path, "m", class_names=["a", "b"])
    with pytest.raises(TypeError, match="keras.Model"):
        export.export_saved_model(object(), tmp_path, "m")


def test_unwritable_base(toy_model, tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(NotADirectoryError, match="(?i)not a directory"):
            export.export_saved_model(toy_model, blocker / "sub", "m")
        with pytest.raises(NotADirectoryError):
            export.export_saved_model(toy_model, tmp_path, "file")
        return
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            export.export_saved_model(toy_model, tmp_path / "base", "m")
    finally:
        tmp_path.chmod(0o700)


def test_failure_mid_write_leaves_nothing(toy_model, tmp_path, monkeypatch):
    from kseg.export import saved_model

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(saved_model, "write_warmup_requests", fail)
    with pytest.raises(OSError, match="disk full"):
        export.export_saved_model(toy_model, tmp_path, "m")
    assert os.listdir(tmp_path / "m") == []


_SLOW_EXPORT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    import toy_models
    from kseg.export import saved_model
    original = saved_model.write_labels
    def slow(*args, **kwargs):
        original(*args, **kwargs)
        print("WRITING", flush=True)
        time.sleep(60)
    saved_model.write_labels = slow
    saved_model.export_saved_model(toy_models.encoder_decoder(), {base!r}, "m")
    """
)


def test_sigkill_mid_write_publishes_nothing(toy_model, tmp_path):
    script = _SLOW_EXPORT.format(tests=os.path.dirname(__file__), base=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert proc.stdout.readline().strip() == b"WRITING"
        model_dir = tmp_path / "m"
        entries = os.listdir(model_dir)
        assert len(entries) == 1 and entries[0].startswith(".tmp-1-")
        assert os.path.exists(model_dir / entries[0] / "saved_model.pb")  # half-written, hidden
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert export.list_versions(tmp_path, "m") == []
    # The next export cleans the dead process's temporary and takes version 1.
    path = export.export_saved_model(toy_model, tmp_path, "m", warmup=False)
    assert os.listdir(tmp_path / "m") == ["1"] and path.endswith(os.sep + "1")


def test_saved_model_cli_lists_both_signatures(exported):
    result = subprocess.run(
        ["saved_model_cli", "show", "--dir", exported[2], "--all"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for expected in (
        "signature_def['serving_default']", "signature_def['predict_encoded']",
        "inputs['images']", "DT_UINT8", "inputs['image_bytes']", "DT_STRING",
        "outputs['classes']", "outputs['probabilities']", "outputs['heights']", "outputs['widths']",
    ):
        assert expected in text, expected


_FRESH = textwrap.dedent(
    """
    import sys, numpy as np, tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    images = np.load(sys.argv[2])
    out = loaded.signatures["serving_default"](images=tf.constant(images))
    enc = loaded.signatures["predict_encoded"](
        image_bytes=tf.constant([tf.io.encode_png(i).numpy() for i in images]))
    np.savez(sys.argv[3], classes=out["classes"].numpy(), enc=enc["classes"].numpy(),
             probabilities=out["probabilities"].numpy())
    """
)


def test_fresh_process_runs_both_signatures(exported, tmp_path, rng):
    model = exported[0]
    images = rng.integers(0, 256, (2, 24, 28, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    result = subprocess.run(
        [sys.executable, "-c", _FRESH, exported[2], str(tmp_path / "images.npy"), str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    expected = _keras_classes(model, images)
    np.testing.assert_array_equal(out["classes"], expected)
    np.testing.assert_array_equal(out["enc"], expected)
    assert out["probabilities"].shape == (2, 24, 28, 3)


def test_without_probabilities(toy_model, tmp_path):
    path = export.export_saved_model(toy_model, tmp_path, "m", include_probabilities=False, warmup=False)
    out = tf.saved_model.load(path).signatures[sig.SERVING_DEFAULT](images=tf.zeros((1, 8, 8, 3), tf.uint8))
    assert set(out) == {sig.CLASSES}


def test_layer_that_needs_concrete_sizes_gets_clear_error(tmp_path):
    model = toy_models.keras_bilinear_dynamic()
    with pytest.raises(ValueError, match="unknown height and width.*fixed input_shape"):
        export.export_saved_model(model, tmp_path, "m")
    assert os.listdir(tmp_path / "m") == []


def test_without_tensorflow_serving_warmup_is_skipped_with_a_warning(toy_model, tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow_serving" else real_find_spec(name, *a))
    with pytest.warns(UserWarning, match=r"kseg\[serving\]"):
        path = export.export_saved_model(toy_model, tmp_path, "nowarm")
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert not os.path.exists(os.path.join(path, "assets.extra", "tf_serving_warmup_requests"))


def test_checkpoint_stores_each_weight_once(tmp_path):
    import kseg

    toy_model = kseg.models.build("unet", num_classes=3, base_filters=8, depth=2)  # 120 KB of weights
    path = export.export_saved_model(toy_model, tmp_path, "once", warmup=False)
    folder = os.path.join(path, "variables")
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    weight_bytes = sum(int(np.prod(w.shape)) * 4 for w in toy_model.weights)
    assert weight_bytes <= size < 1.3 * weight_bytes  # Keras alone writes every weight twice
    loaded = tf.saved_model.load(path)
    images = np.random.default_rng(0).integers(0, 255, (1, 32, 32, 3), dtype=np.uint8)
    classes = loaded.signatures["serving_default"](images=tf.constant(images))["classes"].numpy()
    expected = np.argmax(toy_model(images.astype("float32")).numpy(), axis=-1)
    assert (classes == expected).mean() > 0.999
