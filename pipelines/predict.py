"""Predict class maps: ``python -m pipelines.predict --model PATH IMAGES... --output DIR``.

IMAGES are image files or folders. For each image, at its original
resolution: ``<stem>_classes.png`` (class ids), ``<stem>_mask.png`` (colours),
``<stem>_overlay.png``.
"""

import argparse

from pipelines._cli import add_tile_arguments, run


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m pipelines.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help=".keras file or SavedModel version directory")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--output", default="runs/predict", help="where the PNGs go")
    p.add_argument("--data", help="data spec whose palette colours the masks (e.g. camvid:PATH)")
    add_tile_arguments(p)
    args = p.parse_args(argv)

    from kseg.inference import load_predictor, predict_files
    from kseg.training.callbacks import ensure_writable_dir

    ensure_writable_dir(args.output)
    predictor = load_predictor(args.model, tile=args.tile, tile_overlap=args.tile_overlap)
    palette = None
    if args.data:
        from kseg import data as kdata

        palette = kdata.load(args.data, "train").palette
    written = predict_files(predictor, args.images, args.output, palette=palette)
    print(f"wrote {len(written)} predictions to {args.output}")
    return 0


if __name__ == "__main__":
    run(main)
