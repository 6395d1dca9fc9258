"""Quantization routes side by side (issue 30): whole-test mIoU, latency, size, int8 share, GPU verdict.

For each ``.tflite`` file: mIoU on the whole test split (ai-edge-litert
interpreter, ``--threads``), class agreement with the first file given (the
reference, normally fp32), median latency at the file's input size measured
interleaved with every other file in one process, file size, share of ops
whose output is int8, and the verdict of TFLite's GPU-delegate analyzer
(``tf.lite.experimental.Analyzer``, ``gpu_compatibility=True``). With
``--litert-benchmark`` it also runs ``litert-benchmark`` (median, whether the
runtime accelerates the whole graph). Prints a Markdown table.

    nice -n 10 python -m benchmarks.quantization saved_models/camvid_dabnet/6/model_fp32.tflite \\
        saved_models/camvid_dabnet/6/model_int8.tflite --data camvid:../shared/data/camvid --split test
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks._common import artefact_size_mb, interleaved, table  # noqa: E402


def op_census(path):
    """``(int8 ops, all ops, float op names)`` of a .tflite: an op counts as int8 when its first output is int8/uint8."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=os.fspath(path))
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # the only per-op view the runtime offers
    quantized, floats = 0, {}
    for op in ops:
        outputs = [details[i] for i in op["outputs"] if i in details]
        if outputs and outputs[0]["dtype"] in (np.int8, np.uint8):
            quantized += 1
        elif op["op_name"] not in ("ARG_MAX", "CAST", "QUANTIZE", "DEQUANTIZE"):
            floats[op["op_name"]] = floats.get(op["op_name"], 0) + 1
    return quantized, len(ops), floats


def gpu_verdict(path):
    """One line from TFLite's GPU-delegate compatibility analyzer."""
    import tensorflow as tf

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tf.lite.experimental.Analyzer.analyze(model_path=os.fspath(path), gpu_compatibility=True)
    text = buffer.getvalue()
    if "looks compatible with GPU delegate" in text:
        return "compatible"
    problems = sorted({line.split("GPU COMPATIBILITY WARNING:")[-1].strip()[:70]
                       for line in text.splitlines() if "GPU COMPATIBILITY WARNING" in line})
    return "not compatible: " + "; ".join(problems[:3]) if problems else "not compatible"


def litert_benchmark(path, threads, runs=10):
    """``(median ms, fully_accelerated)`` from ``litert-benchmark``, or ``(None, None)`` when it fails."""
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "result.json")
        command = ["litert-benchmark", "--model", os.fspath(path), "--num_threads", str(threads),
                   "--num_runs", str(runs), "--result_json", out]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=900)
            with open(out) as handle:
                result = json.load(handle)
        except (OSError, subprocess.SubprocessError, ValueError):
            return None, None
    flat = json.dumps(result)
    median = _find(result, ("median_ms", "median", "latency_median_ms", "inference_median_ms"))
    accelerated = _find(result, ("fully_accelerated",))
    if median is None and "median" in flat:
        median = flat
    return median, accelerated


def _find(value, keys):
    if isinstance(value, dict):
        for key, item in value.items():
            if key in keys:
                return item
            found = _find(item, keys)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _find(item, keys)
            if found is not None:
                return found
    return None


def score(paths, spec, split, threads, limit=None, log=print):
    """Per file: confusion-matrix mIoU on the split, and class agreement with ``paths[0]``."""
    from kseg import data as kdata
    from kseg.export.tflite_runtime import TFLiteRunner
    from kseg.metrics import confusion_matrix, scores

    data = kdata.load(spec, split)
    runners = [TFLiteRunner(path, num_threads=threads) for path in paths]
    num_classes = data.num_classes
    matrices = [np.zeros((num_classes, num_classes), np.int64) for _ in paths]
    same = np.zeros(len(paths))
    pixels = 0
    for count, (image, mask) in enumerate(data.dataset.as_numpy_iterator(), 1):
        mask = np.asarray(mask, np.int32).reshape(image.shape[:2])
        reference = None
        for i, runner in enumerate(runners):
            classes = runner.outputs(image[None])["classes"][0]
            matrices[i] += np.asarray(confusion_matrix(mask.reshape(1, -1), classes.reshape(1, -1), num_classes,
                                                       data.ignore_id), np.int64)
            reference = classes if reference is None else reference
            same[i] += np.sum(classes == reference)
        pixels += mask.size
        if count % 50 == 0:
            log(f"  {count} images")
        if limit and count >= limit:
            break
    return [dict(miou=100 * float(scores.mean_iou(cm)), agreement=100 * same[i] / pixels, images=count)
            for i, cm in enumerate(matrices)]


def latencies(paths, threads, rounds):
    from kseg.export.tflite_runtime import TFLiteRunner

    runners = {path: TFLiteRunner(path, num_threads=threads) for path in paths}
    image = {path: np.random.default_rng(0).integers(0, 256, (1, *r.input_size, r.channels), dtype=np.uint8)
             for path, r in runners.items()}
    calls = {path: (lambda r=runner, x=image[path]: r.outputs(x)) for path, runner in runners.items()}
    return interleaved(calls, warmup=2, rounds=rounds)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quantization", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help=".tflite files; the first is the agreement reference")
    parser.add_argument("--data", default="camvid:../shared/data/camvid")
    parser.add_argument("--split", default="test")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved latency rounds")
    parser.add_argument("--limit", type=int, help="score only the first N images")
    parser.add_argument("--litert-benchmark", action="store_true")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    for path in args.files:
        if not os.path.isfile(path):
            parser.error(f"{path!r}: no such .tflite file.")
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    log("latency ...")
    times = latencies(args.files, args.threads, args.rounds)
    log("scoring ...")
    scored = score(args.files, args.data, args.split, args.threads, args.limit, log)
    rows = []
    for path, result in zip(args.files, scored):
        quantized, total, floats = op_census(path)
        row = dict(file=os.fspath(path), split=args.split, miou=result["miou"], agreement=result["agreement"],
                   images=result["images"],
                   latency_ms=1000 * times[path], size_mb=artefact_size_mb(path), int8_ops=quantized, ops=total,
                   float_ops=floats, gpu=gpu_verdict(path))
        if args.litert_benchmark:
            row["litert_median_ms"], row["fully_accelerated"] = litert_benchmark(path, args.threads)
        rows.append(row)
        log(json.dumps(row))
    # The images every score is on: the split (and how many of it) in the header, never "test" for another split.
    images = f"{args.split} mIoU" + (f" ({rows[0]['images']} images)" if args.limit else "")
    header = ("file", images, "agreement %", "latency ms", "vs first", "size MB", "int8 ops", "GPU analyzer")
    body = [(f"`{r['file']}`", f"{r['miou']:.2f}", f"{r['agreement']:.2f}", f"{r['latency_ms']:.1f}",
             f"{r['latency_ms'] / rows[0]['latency_ms']:.2f}x", f"{r['size_mb']:.2f}",
             f"{r['int8_ops']}/{r['ops']}", r["gpu"]) for r in rows]
    print("\n".join(table(header, body)))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
