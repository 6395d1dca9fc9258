"""Cache a teacher's soft labels: ``python -m pipelines.teacher_cache --teacher M.keras --data SPEC --output DIR``.

Runs the teacher (optionally with test-time augmentation, ``--tta``) once
on every image of the training split and stores its logits (float16, at
``--scale`` of the image size) under ``--output``. Train with them through
``python -m pipelines.train --teacher-cache DIR`` (config key
``teacher_cache``): the logits follow each crop, scale and flip, and no
teacher runs during training. Rerunning fills in what is missing. An image that cannot be
read is reported and skipped (the command then exits 2, after caching the others).
"""

import argparse

from pipelines._cli import add_data_arguments, data_options, run


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m pipelines.teacher_cache", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", required=True, metavar="MODEL", help=".keras model whose logits are cached")
    p.add_argument("--tta", metavar="SPEC", help="run the teacher with this test-time augmentation, e.g. flip,1,2.75")
    p.add_argument("--data", required=True, help="camvid:PATH | folder:IMAGES:MASKS | list:FILE (file-based data)")
    p.add_argument("--split", default="train", help="split to cache: the one you train on (default train)")
    add_data_arguments(p)
    p.add_argument("--output", required=True, help="cache folder")
    p.add_argument("--scale", type=float, default=0.5, help="stored size relative to the image, in (0, 1] (default 0.5)")
    args = p.parse_args(argv)

    from kseg import data as kdata
    from kseg.training.teacher_cache import write_teacher_cache

    data = kdata.load(args.data, args.split, label_map=args.label_map,
                      **kdata.source_options(args.data, **data_options(args)))
    print(f"caching {args.teacher}" + (f" with TTA {args.tta}" if args.tta else "")
          + f" on {data.num_examples} images of {data.name or args.data} -> {args.output}", flush=True)
    index = write_teacher_cache(args.teacher, data, args.output, tta=args.tta, scale=args.scale)
    print(f"wrote {index['written']}, kept {index['present']}, skipped {len(index['skipped'])} "
          f"in {index['seconds']:.0f} s -> {args.output}")
    return 2 if index["skipped"] else 0


if __name__ == "__main__":
    run(main)
