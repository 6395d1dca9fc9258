"""Export a trained .keras model for TF Serving, as a builtin-only TFLite file or as ONNX.

Examples::

    python -m pipelines.export --model runs/unet.keras --name pets
    python -m pipelines.export --model runs/unet.keras --name pets --format tflite \
        --input-size 256 256 --quantize int8 --data data/train/images
    python -m pipelines.export --model runs/unet.keras --name pets --format onnx
    python -m pipelines.export --model runs/unet.keras --name aerial --tile 512 512 --tile-overlap 0.25
"""

import argparse
import os
import sys

from pipelines._cli import add_tile_arguments

SAVED_MODEL, TFLITE, ONNX = "saved_model", "tflite", "onnx"


def _parser():
    parser = argparse.ArgumentParser(prog="python -m pipelines.export", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="trained model file (.keras)")
    parser.add_argument("--name", required=True, help="model name (directory under --base / .tflite or .onnx file stem)")
    parser.add_argument("--base", default="saved_models", help="output base directory (default: saved_models)")
    parser.add_argument("--version", type=int, help="SavedModel version (default: next free integer)")
    parser.add_argument("--force", action="store_true", help="replace an existing version / .tflite / .onnx file")
    parser.add_argument("--format", choices=(SAVED_MODEL, TFLITE, ONNX), default=SAVED_MODEL,
                        help="onnx needs the onnx extra: pip install \"kseg[onnx]\"")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"),
                        help="TFLite input size; ONNX fixed input size (default for ONNX: any size)")
    parser.add_argument("--quantize", choices=("none", "fp16", "dynamic", "int8"), default="none",
                        help="TFLite quantization (int8 needs --data)")
    parser.add_argument("--data", help="calibration images for int8: a data spec (synthetic, camvid:PATH, folder:I:M), a directory, a glob, or a .npy/.npz file")
    parser.add_argument("--tta", help="export with test-time augmentation: 'flip', scales '0.75,1,1.25' or "
                        "'flip,0.75,1,1.25' (logits averaged over the views; costs one pass per view)")
    add_tile_arguments(parser, "inside the export; saved_model and tflite")
    parser.add_argument("--labels", help="text file with one class name per line (default: the class_names that "
                        "pipelines.train wrote to config.json beside --model)")
    parser.add_argument("--max-image-size", type=int, default=4096,
                        help="largest image side the SavedModel accepts (default: 4096)")
    parser.add_argument("--no-probabilities", action="store_true",
                        help="SavedModel serving_default returns classes only")
    parser.add_argument("--scores", action="store_true", help="ONNX also outputs float32 logits 'scores' (a .tflite "
                        "always has them, as its last output, which MediaPipe's ImageSegmenter reads)")
    parser.add_argument("--keep-float", metavar="auto|NAME,...",
                        help="--quantize int8: keep these layers in float32, or 'auto': the fewest worst-ranked "
                        "layers until the file agrees >= 99%% with the Keras model on held-back --data images")
    parser.add_argument("--debug-quantization", action="store_true",
                        help="--quantize int8: also write <name>.quant_debug.json/.md beside the file (per-layer "
                        "int8 error, worst first)")
    return parser


def _check_args(parser, args):
    if args.format == SAVED_MODEL:
        for flag, value in (("--input-size", args.input_size), ("--data", args.data), ("--scores", args.scores)):
            if value:
                parser.error(f"{flag} applies to --format tflite only.")
        if args.quantize != "none":
            parser.error("--quantize applies to --format tflite only.")
    else:
        if args.version is not None:
            parser.error("--version applies to --format saved_model only.")
        if args.format == ONNX and args.quantize != "none":
            parser.error("--quantize applies to --format tflite only.")
        if args.no_probabilities:
            parser.error("--no-probabilities applies to --format saved_model only.")
        if args.quantize == "int8" and not args.data:
            parser.error("--quantize int8 needs --data (calibration images).")
        if args.data and args.quantize != "int8":
            parser.error("--data is only used by --quantize int8.")
        for flag, value in (("--keep-float", args.keep_float), ("--debug-quantization", args.debug_quantization)):
            if value and args.quantize != "int8":
                parser.error(f"{flag} applies to --quantize int8 only.")
        if args.input_size and min(args.input_size) < 1:
            parser.error("--input-size values must be positive.")
    if args.tile and args.format == ONNX:
        parser.error("--tile applies to --format saved_model and tflite only.")
    if args.tile and min(args.tile) < 1:
        parser.error("--tile values must be positive.")
    if not 0 <= args.tile_overlap < 1:
        parser.error(f"--tile-overlap must be in [0, 1); got {args.tile_overlap}.")
    if args.version is not None and args.version < 0:
        parser.error("--version must be >= 0.")
    if args.max_image_size < 1:
        parser.error("--max-image-size must be positive.")
    if not os.path.isfile(args.model):
        parser.error(f"--model {args.model!r}: no such file.")
    if args.labels and not os.path.isfile(args.labels):
        parser.error(f"--labels {args.labels!r}: no such file.")


def _load_model(path):
    import keras

    import kseg.layers  # noqa: F401  registers kseg's custom layers for loading
    import kseg.models  # noqa: F401

    try:
        return keras.saving.load_model(path)
    except Exception as error:  # keras raises many types for a bad file
        raise ValueError(f"--model {path!r} is not a loadable Keras model: {error}") from None


def run(args):
    from kseg import export

    model = _load_model(args.model)
    if args.tta:
        from kseg.models import parse_tta, with_tta

        model = with_tta(model, **parse_tta(args.tta))
    class_names = _class_names(args, model)
    if args.format == SAVED_MODEL:
        path = export.export_saved_model(
            model, args.base, args.name, version=args.version, force=args.force,
            include_probabilities=not args.no_probabilities, max_image_size=args.max_image_size,
            class_names=class_names, tile_size=tuple(args.tile) if args.tile else None, tile_overlap=args.tile_overlap,
        )
        print(f"SavedModel published: {path}")
        return path
    from kseg.export.images import load_images

    os.makedirs(args.base, exist_ok=True)
    if args.format == ONNX:
        return _run_onnx(args, model, class_names)
    suffix = "" if args.quantize == "none" else f"_{args.quantize}"
    stem = args.name if args.name.endswith(suffix) else f"{args.name}{suffix}"  # --name m_int8: not m_int8_int8
    path = _new_file(args, f"{stem}.tflite")
    data = load_images(args.data, limit=export.tflite.MAX_REPRESENTATIVE_IMAGES) if args.data else None
    export.export_tflite(
        model, path, input_size=tuple(args.input_size) if args.input_size else None, quantize=args.quantize,
        representative_data=data, class_names=class_names,  # scores always: MediaPipe reads them
        tile_size=tuple(args.tile) if args.tile else None, tile_overlap=args.tile_overlap,
        keep_float=args.keep_float, debug_quantization=args.debug_quantization,
    )
    _print_written("TFLite", path, export.tflite_ops(path))
    if args.quantize == "int8":
        _print_quantization(path)
    return path


def _print_quantization(path):
    """What the int8 file's ``kseg_quantization`` metadata records: rewrites, float layers, reports."""
    from kseg.quantization import read_record

    record = read_record(path) or {}
    lowered = record.get("lowered") or {}
    if any(lowered.values()):
        print(f"int8 lowering: {len(lowered.get('prelu', []))} PReLU -> depthwise+ReLU+add, "
              f"{len(lowered.get('batchnorm', []))} batch norms -> 1x1 depthwise, "
              f"{len(lowered.get('average_pool', []))} average pools of a shared input requantized")
    floats = record.get("float_layers")
    if floats is not None:
        print(f"layers kept in float32 ({len(floats)}): {', '.join(floats) or 'none'}")
    if record.get("auto"):
        auto = record["auto"]
        print(f"keep-float auto: agreement {100 * auto['agreement']:.2f}% on {auto['held_back_images']} held-back "
              f"images (target {100 * auto['target']:.0f}%); tried {auto['tried']}")
    for report in record.get("debug_report", []):
        print(f"quantization debug report: {report}")


def _print_written(kind, path, ops):
    """What was written, what the file takes and gives (its own tensors, read back), and its ops."""
    from kseg import export

    if kind == "ONNX":
        from kseg.export.onnx import describe_onnx as describe
    else:
        from kseg.export.tflite_runtime import describe_tflite as describe
    print(f"{kind} written: {path} ({export.size_mb(path):.2f} MB)")
    print(describe(path))
    print(f"ops: {', '.join(ops)}")
    print(f"labels: {export.labels_path_for(path)}")


def _class_names(args, model):
    """The class names the export ships: ``--labels``, else the ``class_names`` that
    ``pipelines.train`` recorded in the run's ``config.json`` beside ``--model``; else None
    (``class_0``...), said on stderr so nobody ships anonymous labels by accident."""
    import json

    from kseg import export

    num_classes = int(model.outputs[0].shape[-1])
    if args.labels:
        return export.read_labels(args.labels)
    run_config = os.path.join(os.path.dirname(os.path.abspath(args.model)), "config.json")
    names = None
    if os.path.isfile(run_config):
        try:
            with open(run_config, encoding="utf-8") as handle:
                names = json.load(handle).get("class_names")
        except (OSError, ValueError, AttributeError) as error:
            raise ValueError(f"{run_config} (the training run of --model) is not a readable config: {error}; "
                             "pass --labels.") from None
    if names is None:
        print(f"warning: no --labels and no training-run config.json beside --model {args.model!r}: the labels "
              f"file will name the {num_classes} classes class_0..class_{num_classes - 1}.", file=sys.stderr)
        return None
    if not isinstance(names, list) or len(names) != num_classes:
        count = len(names) if isinstance(names, list) else repr(names)
        raise ValueError(f"{run_config} (the training run of --model) lists {count} class names but the model "
                         f"predicts {num_classes} classes; pass --labels.")
    print(f"class names: from {run_config}")
    return [str(name) for name in names]


def _new_file(args, filename):
    """``<base>/<filename>``; an existing file is replaced only with --force."""
    path = os.path.join(args.base, filename)
    if os.path.exists(path) and not args.force:
        raise FileExistsError(f"{path} exists; pass --force to replace it.")
    return path


def _run_onnx(args, model, class_names):
    from kseg import export

    path = _new_file(args, f"{args.name}.onnx")
    export.export_onnx(
        model, path, input_size=tuple(args.input_size) if args.input_size else None, include_scores=args.scores,
        class_names=class_names,
    )
    _print_written("ONNX", path, export.onnx_ops(path))
    return path


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    try:
        run(args)
    except (ValueError, TypeError, OSError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
