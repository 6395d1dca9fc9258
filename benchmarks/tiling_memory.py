"""Peak memory of ``serving_default`` on one large image: tiled vs untiled SavedModel export.

A small 12-class model is exported twice with ``export_saved_model``: as it
is, and with ``tile_size=(512, 512), tile_overlap=0.25`` (both without
probabilities, so the answer is the int32 class map). Each export then runs
in a fresh Python process on one uint8 image (4000x6000 by default; 2000x3000
with --quick) and reports its peak resident memory (``ru_maxrss``) after
loading and after the call; the difference is what the call itself needed.

    python -m benchmarks.tiling_memory [--quick] [--no-append]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import _common  # noqa: E402

NUM_CLASSES = 12
TILE = (512, 512)
OVERLAP = 0.25
FULL_SIZE = (4000, 6000)
QUICK_SIZE = (2000, 3000)


def small_model():
    """Conv 16 at full resolution, /2, dilated conv 32, x2 bilinear, 12-class logits."""
    import keras

    from kseg.layers import Upsample2D

    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3), name="images")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, padding="same", dilation_rate=2, activation="relu")(x)
    x = Upsample2D(2, interpolation="bilinear")(x)
    outputs = keras.layers.Conv2D(NUM_CLASSES, 1, name="logits")(x)
    return keras.Model(inputs, outputs, name="small_12_classes")


def _maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(export_dir, height, width, classes_path):
    """Run in a fresh process: load, one call, print the memory figures as JSON."""
    import numpy as np
    import tensorflow as tf

    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    image = np.random.default_rng(0).integers(0, 256, (1, height, width, 3), dtype=np.uint8)
    image = tf.constant(image)
    before = _maxrss_mb()
    start = time.perf_counter()
    classes = serve(images=image)["classes"].numpy()
    seconds = time.perf_counter() - start
    np.save(classes_path, classes)
    print(json.dumps({"rss_before_mb": before, "rss_peak_mb": _maxrss_mb(), "seconds": seconds,
                      "shape": list(classes.shape)}))


def _run_child(export_dir, size, classes_path):
    command = [sys.executable, "-m", "benchmarks.tiling_memory", "--child", export_dir, str(size[0]), str(size[1]),
               classes_path]
    done = subprocess.run(command, capture_output=True, text=True, cwd=_common.REPO, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick):
    import numpy as np

    from kseg.export import export_saved_model

    size = QUICK_SIZE if quick else FULL_SIZE
    load_before = _common.load()
    model = small_model()
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as work:
        exports = {
            "untiled": export_saved_model(model, work, "untiled", warmup=False, include_probabilities=False,
                                          max_image_size=8192),
            f"tiled {TILE[0]}x{TILE[1]}, overlap {OVERLAP}": export_saved_model(
                model, work, "tiled", warmup=False, include_probabilities=False, max_image_size=8192,
                tile_size=TILE, tile_overlap=OVERLAP),
        }
        for name, export_dir in exports.items():
            classes_path = os.path.join(work, f"{len(results)}.npy")
            results[name] = _run_child(export_dir, size, classes_path)
            results[name]["classes"] = np.load(classes_path)
    untiled = next(iter(results.values()))["classes"]
    for name, result in results.items():
        agreement = 100.0 * float(np.mean(result["classes"] == untiled))
        rows.append((name, f"{size[0]}x{size[1]}", _common.fmt(result["rss_before_mb"], 0),
                     _common.fmt(result["rss_peak_mb"], 0),
                     _common.fmt(result["rss_peak_mb"] - result["rss_before_mb"], 0),
                     _common.fmt(result["seconds"], 1), _common.fmt(agreement, 2)))
    logits_mb = size[0] * size[1] * NUM_CLASSES * 4 / 2**20
    band_mb = TILE[0] * size[1] * NUM_CLASSES * 4 / 2**20
    body = _common.table(
        ("export", "image", "RSS after load + image (MB)", "peak RSS (MB)", "call needed (MB)", "call (s)",
         "classes = untiled (%)"), rows)
    body += ["", f"For scale: the full-image float32 logits are {logits_mb:.0f} MB; one band of "
             f"{TILE[0]} rows of logits is {band_mb:.0f} MB; the int32 class map is "
             f"{size[0] * size[1] * 4 / 2**20:.0f} MB and the uint8 image {size[0] * size[1] * 3 / 2**20:.0f} MB."]
    settings = (f"`{model.name}` ({model.count_params()} parameters, {NUM_CLASSES} classes), SavedModel "
                f"`serving_default` without probabilities, one uint8 {size[0]}x{size[1]} image, batch 1, each export "
                "in a fresh process (peak = ru_maxrss).")
    text = _common.section("Tiled inference memory (issue 15)", quick=quick, settings=settings,
                           load_before=load_before, body=body)
    return text, results


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        _common.figure_main(run, __doc__, f"a {QUICK_SIZE[0]}x{QUICK_SIZE[1]} image instead of "
                            f"{FULL_SIZE[0]}x{FULL_SIZE[1]}")
