"""The speed/accuracy table of every shipped CamVid model: the table a user reads to pick one.

For the newest version of each model in ``SHIPPED`` that exists under
``saved_models/``: test mIoU of its SavedModel over the whole test split (the
number ``python -m pipelines.evaluate --model saved_models/NAME/V --data
camvid:../shared/data/camvid --split test`` prints), parameters and GFLOPs at
360x480 (the architecture rebuilt from its training config; a model trained
at reduced ``input_scale`` is counted at the scale it runs at), file sizes,
and the batch-1 CPU latency at 360x480 of the SavedModel's
``serving_default`` and of its fp32, int8 and dynamic-range TFLite files
(those it ships), all measured side
by side in one process (interleaved rounds, median; ``benchmarks._common``).

Run: ``python -m benchmarks.camvid_models [--quick] [--no-append]``
(``--quick``: 8 test images and 3 timing rounds, for a smoke run).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


from benchmarks import _common as C  # noqa: E402

DATA = "camvid:" + os.fspath(C.REPO.parent / "shared" / "data" / "camvid")
SIZE = (360, 480)


def _presets():
    """Every shipped model, read from its preset (kseg.models.list_presets): one place pins the versions."""
    from kseg.models import list_presets, preset_info

    return {name: preset_info(name) for name in list_presets()}


_PRESETS = _presets()
# Shipped model name -> the config it was trained with (its last training stage).
SHIPPED = {name: info["train_config"] for name, info in _PRESETS.items()}
# Test-time augmentation rows: shipped model -> (the Keras checkpoint its newest version was exported
# from: the preset's weights, the --tta spec chosen on val). The TTA model is exported here (SavedModel
# and fp32 TFLite) as ``pipelines.export --tta SPEC`` would, and measured like the shipped files.
TTA = {name: (os.path.relpath(info["weights"], C.REPO), info["tta"]) for name, info in _PRESETS.items()
       if info.get("tta")}
THREADS = os.cpu_count() or 1
ARTEFACTS = (("SavedModel", None), ("TFLite fp32", "model_fp32.tflite"), ("TFLite int8", "model_int8.tflite"),
             ("TFLite dynamic", "model_dynamic.tflite"))


def latest_version(name, base=C.REPO / "saved_models"):
    """``saved_models/<name>/<highest integer version>`` or None when none is published."""
    from kseg.export import list_versions

    versions = list_versions(base, name)
    return Path(base) / name / str(versions[-1]) if versions else None


def size_and_flops(config_path):
    """(parameters, GFLOPs at 360x480) of the network a config trains, at the scale it runs."""
    import kseg
    from kseg.workflows import read_config_file

    # The file as written: its init_weights (an earlier stage's run folder) need not exist here.
    config = read_config_file(C.REPO / config_path)
    model = kseg.models.build(config["model"], num_classes=11, **config.get("model_kwargs", {}))
    scale = config.get("input_scale") or 1.0
    run_size = (round(SIZE[0] * scale), round(SIZE[1] * scale), 3)
    return model.count_params(), kseg.models.flops(model, run_size) / 1e9


def export_tta(checkpoint, spec, workdir):
    """The SavedModel version directory and fp32 360x480 TFLite file of ``checkpoint`` wrapped in
    ``kseg.models.with_tta`` (``spec`` as ``--tta`` takes it), written under ``workdir``."""
    import keras

    from kseg.export import export_saved_model, export_tflite
    from kseg.models import parse_tta, with_tta

    model = with_tta(keras.saving.load_model(C.REPO / checkpoint, safe_mode=True), **parse_tta(spec))
    version = export_saved_model(model, workdir, "tta", warmup=False)
    tflite = Path(workdir) / "model_fp32.tflite"
    export_tflite(model, tflite, input_size=SIZE)
    return Path(version), tflite


def tta_cost(spec):
    """How many full-size passes of the network a ``--tta`` spec costs: the views' pixel areas summed."""
    from kseg.models import parse_tta

    views = parse_tta(spec)
    return sum(scale * scale for scale in views["scales"]) * (2 if views["flip"] else 1)


def rows(quick, workdir):
    from kseg import data as kdata
    from kseg.inference import evaluate, load_predictor, tflite_predictor

    test = kdata.load(DATA, "test")
    image = next(test.dataset.as_numpy_iterator())[0][None]
    if image.shape[1:3] != SIZE:
        raise ValueError(f"{DATA} test images are {image.shape[1:3]}, expected {SIZE}.")
    found, predictors = [], {}
    for name, config in SHIPPED.items():
        version = latest_version(name)
        if version is None:
            print(f"{name}: no version under saved_models/ yet; skipped")
            continue
        params, gflops = size_and_flops(config)
        variants = [(name, f"`{version.relative_to(C.REPO)}`", version, ARTEFACTS)]
        if name in TTA and (C.REPO / TTA[name][0]).exists():
            checkpoint, spec = TTA[name]
            saved, tflite = export_tta(checkpoint, spec, Path(workdir) / name)
            variants.append((f"{name} tta", f"`{version.relative_to(C.REPO)}` + `--tta {spec}` ({checkpoint})",
                             saved, (("SavedModel", None), ("TFLite fp32", tflite)), tta_cost(spec)))
        for key, label_text, saved, artefacts, *cost in variants:
            report = evaluate(load_predictor(saved), test, max_images=8 if quick else None, num_overlays=0)
            found.append((key, label_text, report, params, gflops * (cost[0] if cost else 1)))
            for label, filename in artefacts:
                path = saved if filename is None else saved / filename
                if path.exists():
                    # Both runtimes on every core, as a user on this machine would run them.
                    predictor = load_predictor(path) if filename is None else tflite_predictor(path, num_threads=THREADS)
                    predictors[(key, label)] = (predictor, path)
    timings = C.interleaved(
        {key: (lambda p=p: p.classes(image)) for key, (p, _) in predictors.items()},
        warmup=1, rounds=3 if quick else 15,
    )
    table_rows = []
    for name, label_text, report, params, gflops in found:
        cells = []
        for label, _ in ARTEFACTS:
            key = (name, label)
            if key in timings:
                cells.append(f"{1000 * timings[key]:.0f} ms / {C.artefact_size_mb(predictors[key][1]):.1f} MB")
            else:
                cells.append("n/a")
        table_rows.append((label_text, f"{100 * report['miou']:.1f}",
                           f"{report['num_images']}", f"{params:,}", f"{gflops:.1f}", *cells))
    return table_rows


def run(quick):
    import tempfile

    load_before = C.load()
    header = ("model", "test mIoU", "test images", "parameters", "GFLOPs @ 360x480",
              *(f"{label} latency / size" for label, _ in ARTEFACTS))
    with tempfile.TemporaryDirectory(prefix="kseg-camvid-models-") as workdir:
        body = C.table(header, rows(quick, workdir))
    text = C.section(
        "CamVid models: speed/accuracy (issue 16)", quick=quick, load_before=load_before,
        settings=f"batch-1 {SIZE[0]}x{SIZE[1]} CamVid test image, CPU; SavedModel on the TF runtime, TFLite in "
                 f"the ai-edge-litert interpreter with {THREADS} threads; latency = median of interleaved rounds.",
        body=body,
    )
    return text, body


def main(argv=None):
    C.figure_main(run, __doc__, "8 test images, 3 timing rounds", argv)


if __name__ == "__main__":
    main()
