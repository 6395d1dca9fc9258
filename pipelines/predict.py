"""Predict class maps: ``python -m pipelines.predict --model PATH IMAGES... --output DIR``.

IMAGES are image files, folders (``--recursive`` walks subfolders) or URLs
fsspec understands. For each image, at its original resolution, under
``--output`` at its path relative to the folder given (``a/x.jpg`` ->
``a/x_classes.png``): ``<key>_classes.png`` (class ids), ``<key>_mask.png``
(colours), ``<key>_overlay.png``. Two inputs with one stem in one folder keep
their suffixes (``x.jpg_classes.png``, ``x.png_classes.png``).

Images are read as the exported SavedModel's ``predict_encoded`` reads them
(tf.io.decode_image; 16-bit PNGs scaled to 8 bits), so the classes equal
serving's. A bad file (unreadable, truncated, larger than --max-image-size on
a side, judged from its header before decoding, or refused by the model) is
named, skipped and listed in ``<output>/failures.jsonl``; the run ends with a
summary and exits 1 when any failed (``--on-error stop``: exit 2 at the first).

Outputs are written atomically; a rerun with the same ``--output`` skips the
images whose outputs are all there (a killed job resumes); ``--overwrite``
redoes them.

A ``.tflite`` (or fixed-size ``.onnx``) runs at the size it was exported for:
an image of another size is resized to it (bilinear) and the class map
resized back to the image (nearest neighbour).

``--engine ray`` spreads the images over Ray Data actors (``pip install -e
".[ray]"``), each loading the model once: ``--address`` of a cluster
(``ray start --head`` prints it), ``--workers`` actors, ``--gpus-per-worker``.
"""

import argparse
import sys

from pipelines._cli import add_tile_arguments, run


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m pipelines.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help=".keras file, SavedModel version directory, .tflite or .onnx")
    p.add_argument("images", nargs="+", help="image files, folders or URLs")
    p.add_argument("--output", default="runs/predict", help="where the PNGs go (a folder or a URL)")
    p.add_argument("--recursive", action="store_true", help="walk the subfolders of folders given")
    p.add_argument("--overwrite", action="store_true", help="redo images whose outputs exist (default: skip them)")
    p.add_argument("--on-error", choices=("skip", "stop"), default="skip",
                   help="a bad image: report it and go on (skip, default) or stop the run (stop)")
    p.add_argument("--max-image-size", type=int, default=8192,
                   help="largest height or width read, checked in the file's header (default 8192)")
    p.add_argument("--data", help="data spec whose palette colours the masks (e.g. camvid:PATH)")
    p.add_argument("--tta", help="test-time augmentation of a .keras model: 'flip', scales '0.75,1,1.25' "
                                 "or both 'flip,0.75,1,1.25'")
    add_tile_arguments(p)
    p.add_argument("--threads", type=int, default=1, help="interpreter threads of a .tflite or .onnx (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress, only the summary")
    engine = p.add_argument_group("engine")
    engine.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this process; ray: Ray Data actors (pip install -e \".[ray]\")")
    engine.add_argument("--address", help="Ray cluster address (default: a local Ray started for this run)")
    engine.add_argument("--workers", type=int, default=1, help="Ray actors, each with its own model (default 1)")
    engine.add_argument("--batch-size", type=int, default=8,
                        help="images handed to a Ray actor at a time (each runs at its own size; default 8)")
    engine.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs Ray gives each actor (default 0)")
    args = p.parse_args(argv)
    ray_flags = {"--address": args.address, "--workers": args.workers != 1, "--batch-size": args.batch_size != 8,
                 "--gpus-per-worker": args.gpus_per_worker}
    if args.engine == "local" and any(ray_flags.values()):
        p.error(f"{', '.join(k for k, v in ray_flags.items() if v)} apply to --engine ray")
    for flag, value in (("--workers", args.workers), ("--batch-size", args.batch_size), ("--threads", args.threads)):
        if value < 1:
            p.error(f"{flag} must be at least 1; got {value}")

    from kseg.inference import ModelSpec, predict_many
    from kseg.inference.predict import summary_line

    spec = ModelSpec(args.model, tta=args.tta, tile=tuple(args.tile) if args.tile else None,
                     tile_overlap=args.tile_overlap, num_threads=args.threads)
    # Loaded here so a bad model or flag is one clear error before any work starts; the local
    # engine uses this copy, Ray actors load their own from the spec.
    predictor = spec.load()
    palette = None
    if args.data:
        from kseg import data as kdata

        palette = kdata.load(args.data, "train").palette
    engine_options = {}
    if args.engine == "ray":
        engine_options = {"address": args.address, "workers": args.workers, "batch_size": args.batch_size,
                          "gpus_per_worker": args.gpus_per_worker}
    model = predictor if args.engine == "local" else spec
    summary = predict_many(model, args.images, args.output, engine=args.engine, recursive=args.recursive,
                           overwrite=args.overwrite, on_error=args.on_error, max_image_size=args.max_image_size,
                           palette=palette, progress=not args.quiet, **engine_options)
    print(summary_line(summary, args.output))
    if summary["failed"]:
        print(f"error: {summary['failed']} image(s) failed; see {summary['failures_file']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run(main)
