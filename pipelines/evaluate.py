"""Evaluate a model at full resolution: ``python -m pipelines.evaluate --model PATH --data SPEC``.

Works on a ``.keras`` file and on an exported SavedModel directory. Writes
``report.json`` (miou, per_class_iou, pixel_accuracy, mean_accuracy,
confusion_matrix, class_names, num_images, boundary_miou with
--boundary-width, and ``evaluated``: model, data, split, the images and
their digest, resolution, TTA views, tiling, --max-images),
``confusion_matrix.png`` and overlay PNGs (image | truth | prediction) to
``--output``, and prints a per-class table.
"""

import argparse

from pipelines._cli import add_data_arguments, add_tile_arguments, data_options, run


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m pipelines.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help=".keras file or SavedModel version directory")
    p.add_argument("--data", required=True, help="synthetic | camvid:PATH | folder:IMAGES:MASKS | tfds:NAME")
    p.add_argument("--split", default="val", help="split to evaluate (default val)")
    add_data_arguments(p)
    p.add_argument("--output", default="runs/evaluate", help="report directory")
    p.add_argument("--max-images", type=int, help="evaluate only the first N images")
    p.add_argument("--overlays", type=int, default=3, help="number of overlay PNGs")
    p.add_argument("--tta", help="test-time augmentation of a .keras model: 'flip', scales '0.75,1,1.25' "
                   "or both 'flip,0.75,1,1.25' (logits averaged; a SavedModel runs as exported)")
    add_tile_arguments(p)
    p.add_argument("--boundary-width", type=int, metavar="PIXELS",
                   help="also score boundary mIoU: the mIoU over pixels within PIXELS of a true class boundary")
    p.add_argument("--markdown", help="also write a Markdown report here (figures beside it)")
    p.add_argument("--title", help="title of the Markdown report")
    p.add_argument("--training-log", help="training_log.csv whose curves go into the Markdown report")
    args = p.parse_args(argv)

    from kseg import data as kdata
    from kseg.inference import load_predictor
    from kseg.inference.evaluate import evaluate, format_table
    from kseg.training.callbacks import ensure_writable_dir

    ensure_writable_dir(args.output)
    predictor = load_predictor(args.model, tta=args.tta, tile=args.tile, tile_overlap=args.tile_overlap)
    data = kdata.load(args.data, args.split, label_map=args.label_map,
                      **kdata.source_options(args.data, **data_options(args)))
    report = evaluate(predictor, data, max_images=args.max_images, output_dir=args.output,
                      num_overlays=args.overlays, log_every=50, boundary_width=args.boundary_width,
                      setup=_setup(args))
    print(format_table(report))
    if args.markdown:
        _markdown(args, predictor, report)
    print(f"mIoU {100 * report['miou']:.2f}  -> {args.output}/report.json")
    return 0


def _setup(args):
    """The run's settings that ``report.json`` records under ``evaluated``."""
    from kseg.models import parse_tta

    tta = parse_tta(args.tta) if args.tta else None
    return {
        "model": args.model,
        "split": args.split,
        "label_map": args.label_map,
        "tta": args.tta,
        "tta_views": len(tta["scales"]) * (2 if tta["flip"] else 1) if tta else 1,
        "tile": list(args.tile) if args.tile else None,
        "tile_overlap": args.tile_overlap if args.tile else None,
    }


def _markdown(args, predictor, report):
    import glob
    import os
    import platform

    from kseg import data as kdata
    from kseg._io import atomic_write_bytes
    from kseg.inference import write_markdown_report

    camvid_test = args.data.startswith("camvid:") and args.split == "test"
    figures = os.path.splitext(args.markdown)[0] + "_figures"
    os.makedirs(figures, exist_ok=True)
    overlays = []
    for src in sorted(glob.glob(os.path.join(args.output, "overlay_*.png"))):
        overlays.append(os.path.join(figures, os.path.basename(src)))
        with open(src, "rb") as f_in:
            atomic_write_bytes(overlays[-1], f_in.read())
    details = [("model", f"`{args.model}` ({predictor.source})"),
               ("data", f"`{args.data}`, split `{args.split}`"),
               ("evaluated on", f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")]
    path = write_markdown_report(
        args.markdown, report, title=args.title or f"Evaluation of {args.model}",
        reference=kdata.SEGNET_BASIC_REFERENCE if camvid_test else None,
        reference_name="SegNet-Basic (SegNet tutorial)" if camvid_test else "reference",
        training_log=args.training_log, details=details, figures_dir=figures, overlays=overlays)
    print(f"Markdown report -> {path}")


if __name__ == "__main__":
    run(main)
