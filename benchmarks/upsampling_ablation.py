"""Decoder upsampling and dilation ablation: one command, one Markdown table (issue 9).

Two groups, each trained with exactly the same budget (data, input size,
epochs, steps, batch, AdamW + poly schedule, seed, class weights,
augmentation; all through ``kseg.workflows.train``):

* ``upsampling``: ``segnet_basic`` with the same encoder and decoder, only
  the x2 upsampler differs: max unpooling with indices (the paper),
  transposed conv (bilinear init), bilinear and nearest interpolation.
* ``dilation``: ``deeplab_v3`` on one backbone at output stride 32, 16, 8
  (the last stages dilated instead of strided).

Each variant is evaluated on the validation split at the training input
size (images resized to fit and padded with the ignore id, as in ``fit``):
mIoU and boundary mIoU (``kseg.metrics.BoundaryIoU``, band width 3 px), both
by ``kseg.inference.evaluate(..., input_size=..., boundary_width=3)``.
The full-resolution val mIoU that ``train`` computes is reported beside it.
Params, GFLOPs (``kseg.models.flops``) and receptive field
(``kseg.layers.receptive_field``) come from the graph; inference ms/image
(batch 1, training size) is timed interleaved over all variants at the
end, median of rounds (the ``benchmarks`` timing rule).

Restartable: every variant trains under ``--workdir/<variant>`` (resumable
mid-run through BackupAndRestore) and writes ``result.json`` when done; a
rerun with the same settings skips finished variants, so a long run may
span several sessions. ``--variants`` picks a subset. The results behind
a report are also archived beside it (``reports/upsampling_ablation.json``,
committed with the report): a rerun with the same settings reuses them
when the run folder is gone, so finishing one variant in a later session
does not retrain the others. Inference time does not depend on the
weights, so it is measured on each architecture freshly built from the
registry, all variants side by side in one run.

    python -m benchmarks.upsampling_ablation --quick   # synthetic smoke run at 32x32, one step per variant
    # reports/upsampling_ablation.md: CamVid at quarter scale, about 3 h on 2 CPU cores
    # (output stride 8 alone 75-85 min; finished variants are reused from the archive):
    python -m benchmarks.upsampling_ablation --data camvid:../shared/data/camvid \\
        --input-size 96 128 --epochs 12 --segnet-filters 32 --workdir runs/ablation_96
    # Half scale, 20 epochs (estimate from FLOPs and measured rates: ~7 h, resumable;
    # split it with --variants upsampling / --variants dilation):
    python -m benchmarks.upsampling_ablation --data camvid:../shared/data/camvid \\
        --input-size 176 240 --epochs 20 --segnet-filters 32 --output reports/upsampling_ablation_176.md
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import _common  # noqa: E402
from benchmarks._common import interleaved, load, machine, versions  # noqa: E402

UPSAMPLING = ("unpool", "transposed", "bilinear", "nearest")
OUTPUT_STRIDES = (32, 16, 8)
BOUNDARY_WIDTH = 3
DEFAULT_OUTPUT = "reports/upsampling_ablation.md"
DEFAULT_WORKDIR = "runs/upsampling_ablation"
QUICK_OUTPUT = "runs/upsampling_ablation_quick.md"  # runs/ is git-ignored: smoke numbers stay out of reports/


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    group: str  # "upsampling" or "dilation"
    model: str
    model_kwargs: dict
    label: str


def variants(args):
    """Every variant of the ablation for the parsed ``args`` (widths depend on --quick)."""
    segnet_kwargs = dict(filters=args.segnet_filters, kernel_size=args.segnet_kernel, stages=4)
    out = [
        Variant(f"segnet_basic_{method}", "upsampling", "segnet_basic", {**segnet_kwargs, "upsampling": method},
                {"unpool": "max unpooling (indices)", "transposed": "transposed conv (bilinear init)",
                 "bilinear": "bilinear interpolation", "nearest": "nearest interpolation"}[method])
        for method in UPSAMPLING
    ]
    out += [
        Variant(f"deeplab_v3_os{stride}", "dilation", "deeplab_v3",
                dict(backbone=args.backbone, output_stride=stride, aspp_filters=args.aspp_filters),
                f"output stride {stride}" + ("" if stride == 32 else " (dilated last stages)"))
        for stride in OUTPUT_STRIDES
    ]
    return out


def select(all_variants, spec):
    """Variants named in the comma-separated ``spec`` (names or group names); all if None."""
    if not spec:
        return all_variants
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    known = {v.name for v in all_variants} | {v.group for v in all_variants}
    unknown = [w for w in wanted if w not in known]
    if unknown or not wanted:
        raise ValueError(f"--variants: unknown {', '.join(map(repr, unknown)) or repr(spec)}; known: {', '.join(sorted(known))}.")
    return [v for v in all_variants if v.name in wanted or v.group in wanted]


def settings_of(args):
    """What must be equal for results to be comparable (stored in every result.json)."""
    return dict(data=args.data, input_size=list(args.input_size), epochs=args.epochs,
                steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, lr=args.lr,
                class_weights=args.class_weights, augment=not args.no_augment, seed=args.seed,
                segnet_filters=args.segnet_filters, segnet_kernel=args.segnet_kernel,
                backbone=args.backbone, aspp_filters=args.aspp_filters)


def train_config(variant, args, workdir):
    from kseg.workflows import TrainConfig

    return TrainConfig(
        model=variant.model, model_kwargs=dict(variant.model_kwargs), data=args.data,
        input_size=tuple(args.input_size), batch_size=args.batch_size, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, lr=args.lr,
        class_weights=None if args.class_weights == "none" else args.class_weights,
        augment=not args.no_augment, seed=args.seed, output=str(workdir / variant.name),
        export_name=None, export_tflite=False,
        # The ablation trains and compares every decoder at --input-size (each image resized to fit it),
        # the view evaluate_at_size scores; native-scale crops would validate at another resolution.
        resize_to_fit=True,
    ).validate()


def evaluate_at_size(model, data, *, input_size, batch_size, ignore_id):
    """(mIoU, boundary mIoU, pixels) of ``model`` on ``data`` resized to fit ``input_size``.

    ``kseg.inference.evaluate`` at ``input_size``: the validation view of
    ``fit`` (aspect kept, padded with the ignore id, never scored).
    """
    from kseg.inference import evaluate, keras_predictor

    if ignore_id != data.ignore_id:
        raise ValueError(f"ignore_id {ignore_id} differs from the data's {data.ignore_id}: load the data with it.")
    report = evaluate(keras_predictor(model), data, input_size=input_size, batch_size=batch_size,
                      boundary_width=BOUNDARY_WIDTH, num_overlays=0)
    return float(report["miou"]), report["boundary_miou"], int(np.sum(report["confusion_matrix"]))


def run_variant(variant, args, workdir):
    """Train (or resume) one variant, evaluate it, write and return its result dict."""
    import keras

    from kseg import data as kdata
    from kseg.layers import receptive_field
    from kseg.models import flops
    from kseg.workflows import train

    config = train_config(variant, args, workdir)
    print(f"\n=== {variant.name}: {variant.label} ===", flush=True)
    result = train(config)
    model = keras.saving.load_model(result.model_path, safe_mode=True)
    val = kdata.load(args.data, config.val_split, ignore_id=config.ignore_id)
    miou, bmiou, pixels = evaluate_at_size(model, val, input_size=args.input_size,
                                           batch_size=args.batch_size, ignore_id=config.ignore_id)
    rf, stride = receptive_field(model)
    h, w = args.input_size
    out = dict(
        name=variant.name, group=variant.group, label=variant.label, model=variant.model,
        model_kwargs=variant.model_kwargs, num_classes=int(val.num_classes), params=int(model.count_params()),
        gflops=flops(model, (h, w, 3)) / 1e9, val_miou=miou, boundary_miou=bmiou, val_pixels=pixels,
        fit_val_miou=float(result.best_val_miou), full_res_val_miou=float(result.val_report["miou"]),
        receptive_field=int(rf), rf_stride=stride,
        best_epoch=int(result.best_epoch), train_seconds=float(result.seconds),
        model_path=result.model_path, finished=datetime.date.today().isoformat(), settings=settings_of(args),
    )
    _common.write_text(workdir / variant.name / "result.json", json.dumps(out, indent=2))
    return out


def cached_result(variant, args, workdir):
    """The finished result of ``variant`` under ``workdir``, None if absent; mismatched settings raise."""
    return _common.cached_result(workdir / variant.name / "result.json", settings_of(args))


archive_path = _common.archive_path


def load_archive(path, args):
    """{name: result} archived at ``path`` with the settings of ``args``; others are skipped (and said)."""
    return _common.load_archive(path, settings_of(args), what="an ablation results archive")


def write_archive(path, results, archived):
    """Archive ``results`` plus the earlier same-settings ``archived`` results this run did not show."""
    _common.write_archive(path, results, archived, generator="python -m benchmarks.upsampling_ablation")


def timing_model(result):
    """The architecture of ``result``, freshly built: inference time does not depend on the weights."""
    from kseg import models

    return models.build(result["model"], num_classes=result["num_classes"], input_shape=(None, None, 3),
                        **result["model_kwargs"])


def time_inference(results, input_size, rounds, warmup=2):
    """Median ms/image at batch 1, timed round-robin over all variants (load hits all alike)."""
    h, w = input_size
    image = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype("float32")
    models = {r["name"]: timing_model(r) for r in results}
    seconds = interleaved({name: (lambda m=model: m.predict_on_batch(image)) for name, model in models.items()},
                          warmup=warmup, rounds=rounds)
    return {name: 1000 * value for name, value in seconds.items()}


def _ranking(rows, key):
    ordered = sorted(rows, key=lambda r: r[key], reverse=True)
    return " > ".join(f"{r['label']} ({100 * r[key]:.1f})" for r in ordered)


def conclusion(rows, group):
    """One or two sentences that restate the ranking the numbers give, nothing more."""
    if len(rows) < 2:
        return ""
    best_m = max(rows, key=lambda r: r["val_miou"])
    best_b = max(rows, key=lambda r: r["boundary_miou"])
    spread_m = 100 * (best_m["val_miou"] - min(r["val_miou"] for r in rows))
    spread_b = 100 * (best_b["boundary_miou"] - min(r["boundary_miou"] for r in rows))
    text = (f"**{group.capitalize()}**: by val mIoU {_ranking(rows, 'val_miou')} "
            f"(spread {spread_m:.1f} points); by boundary mIoU {_ranking(rows, 'boundary_miou')} "
            f"(spread {spread_b:.1f} points).")
    if best_m["name"] == best_b["name"]:
        text += f" {best_m['label'].capitalize()} leads on both."
    else:
        text += (f" The leaders differ: {best_m['label']} on mIoU, {best_b['label']} on boundaries.")
    return text + " One seed per variant, so gaps of about a point may be run-to-run noise."


def markdown(results, timings, args, *, quick, load_before, archive):
    h, w = args.input_size
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        f"# Decoder upsampling and dilation ablation{' (--quick, synthetic smoke run)' if quick else ''}",
        "",
        f"Generated {stamp} by `python -m benchmarks.upsampling_ablation {' '.join(args.argv)}`.",
        "",
        f"- Data: `{args.data}`; trained on train, evaluated on val at the training input size "
        f"**{h}x{w}** (resized to fit, aspect kept, padding ignored). \"full-res\" is the val mIoU at "
        "the data's native resolution, computed by `kseg.workflows.train`.",
        f"- Same budget for every variant: {args.epochs} epoch(s)"
        + (f" of {args.steps_per_epoch} steps" if args.steps_per_epoch else " (one pass over train each)")
        + f", batch {args.batch_size}, AdamW lr {args.lr} with poly decay, weight decay 1e-4, "
        f"class weights {args.class_weights}, augmentation {'off' if args.no_augment else 'on'}, seed {args.seed}; "
        "the checkpoint with the best val mIoU is evaluated.",
        f"- Upsampling group: `segnet_basic` (4 stages, {args.segnet_filters} filters, "
        f"{args.segnet_kernel}x{args.segnet_kernel} kernels); only the decoder's x2 upsampler changes. "
        f"Dilation group: `deeplab_v3`, backbone `{args.backbone}`, ASPP {args.aspp_filters} filters; "
        "only the output stride changes (ASPP rates scale with it).",
        f"- Boundary mIoU: mIoU over pixels within {BOUNDARY_WIDTH} px of a ground-truth class boundary "
        "(`kseg.metrics.boundary_iou`). GFLOPs: 2 x multiply-accumulates of convolutions per image at "
        f"{h}x{w} (`kseg.models.flops`). Inference: batch 1, {h}x{w}, median of {args.timing_rounds} "
        "interleaved rounds over all variants in this run (each architecture freshly built: time does not "
        "depend on the weights). RF / stride: theoretical receptive field in input pixels, and the stride of "
        "the map the logits are computed on (1 for SegNet's decoder, the output stride for DeepLab's final "
        "resize), from `kseg.layers.receptive_field`; dilation keeps the strided network's RF and the ASPP "
        "rates scale with the stride, so the dilation group shares one RF.",
        f"- Machine: {machine()}; load average before/after: {load_before:.1f} / {load():.1f}. {versions()}.",
        f"- Trained: {provenance(results)}. Every row's numbers are in "
        f"`{Path(archive).as_posix()}`.",
        "",
        "| group | variant | params | GFLOPs | inference ms/img | val mIoU | boundary mIoU | "
        "val mIoU full-res | RF px / stride | best epoch | train min |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['group']} | {r['name']}: {r['label']} | {r['params']:,} | {r['gflops']:.2f} | "
            f"{timings[r['name']]:.1f} | {100 * r['val_miou']:.1f} | {100 * r['boundary_miou']:.1f} | "
            f"{100 * r['full_res_val_miou']:.1f} | {r['receptive_field']} / {r['rf_stride']} | {r['best_epoch']} | "
            f"{r['train_seconds'] / 60:.1f} |"
        )
    lines += ["", "## What the numbers show", ""]
    for group in ("upsampling", "dilation"):
        rows = [r for r in results if r["group"] == group]
        sentence = conclusion(rows, group)
        if sentence:
            lines += [sentence, ""]
    if quick:
        lines += ["This is the `--quick` smoke run (synthetic data, tiny widths, a few steps): it checks "
                  "the command, not the methods; its numbers mean nothing.", ""]
    return "\n".join(lines)


def provenance(results):
    """When each row was trained, e.g. "2026-11-25 (a, b), 2026-12-01 (c)"; notes travel with their rows."""
    by_day = {}
    for r in results:
        by_day.setdefault(r.get("finished", "date unknown"), []).append(r["name"])
    text = ", ".join(f"{day} ({', '.join(names)})" for day, names in sorted(by_day.items()))
    notes = sorted({r["note"].rstrip(".") for r in results if r.get("note")})
    return text + "".join(f". {note}" for note in notes)


HAND_WRITTEN = _common.HAND_WRITTEN
keep_hand_written = _common.keep_hand_written


def parse_args(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.upsampling_ablation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="data spec (default camvid:../shared/data/camvid; "
                        "--quick: synthetic)")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                        help="training and evaluation size (default 176 240; --quick: 32 32)")
    parser.add_argument("--epochs", type=int, default=None, help="default 30; --quick: 1")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="default: one pass over train; --quick: 1")
    parser.add_argument("--batch-size", type=int, default=None, help="default 8; --quick: 2")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--class-weights", default="median_frequency",
                        choices=("median_frequency", "inverse_frequency", "none"))
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--segnet-filters", type=int, default=None, help="default 64 (paper); --quick: 4")
    parser.add_argument("--segnet-kernel", type=int, default=None, help="default 7 (paper); --quick: 3")
    parser.add_argument("--backbone", default="mobilenet_v2", help="deeplab_v3 backbone of the dilation group")
    parser.add_argument("--aspp-filters", type=int, default=None, help="default 256; --quick: 8")
    parser.add_argument("--variants", default=None,
                        help="comma-separated variant or group names (upsampling, dilation); default all")
    parser.add_argument("--timing-rounds", type=int, default=None, help="default 20; --quick: 2")
    parser.add_argument("--workdir", default=None,
                        help=f"per-variant runs and results (default {DEFAULT_WORKDIR}; --quick: a temporary folder)")
    parser.add_argument("--output", default=None, help=f"Markdown report (default {DEFAULT_OUTPUT}; "
                        f"--quick: {QUICK_OUTPUT})")
    parser.add_argument("--quick", action="store_true",
                        help="synthetic data at 32x32, 1 epoch of 1 step, tiny widths: checks the command")
    args = parser.parse_args(argv)
    args.argv = argv
    quick = args.quick
    # --quick checks the command, not the methods: the smallest sizes that build every variant.
    defaults = dict(data=("synthetic", "camvid:../shared/data/camvid"), input_size=((32, 32), (176, 240)),
                    epochs=(1, 30), steps_per_epoch=(1, None), batch_size=(2, 8), segnet_filters=(4, 64),
                    segnet_kernel=(3, 7), aspp_filters=(8, 256), timing_rounds=(2, 20))
    for name, (quick_value, full_value) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick_value if quick else full_value)
    args.input_size = tuple(args.input_size)
    for name in ("epochs", "batch_size", "segnet_filters", "segnet_kernel", "aspp_filters", "timing_rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if args.steps_per_epoch is not None and args.steps_per_epoch < 1:
        parser.error(f"--steps-per-epoch must be >= 1, got {args.steps_per_epoch}.")
    if min(args.input_size) < 32:
        parser.error(f"--input-size must be at least 32x32 (the deeplab backbones need it), got {args.input_size}.")
    return args


def main(argv=None):
    args = parse_args(argv)
    chosen = select(variants(args), args.variants)
    temporary = args.workdir is None and args.quick
    workdir = Path(tempfile.mkdtemp(prefix="upsampling_ablation_") if temporary else
                   (args.workdir or DEFAULT_WORKDIR))
    output = Path(args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT))
    archive = archive_path(output)
    # A --quick run in a temporary folder is a smoke test of the command: it trains, never reuses.
    archived = {} if temporary else load_archive(archive, args)
    load_before = load()
    try:
        results = []
        for variant in chosen:
            result = cached_result(variant, args, workdir)
            if result is not None:
                print(f"{variant.name}: finished earlier, reusing {workdir / variant.name / 'result.json'}")
            elif variant.name in archived:
                result = archived[variant.name]
                print(f"{variant.name}: finished earlier, reusing its archived result in {archive}")
            else:
                result = run_variant(variant, args, workdir)
            results.append(result)
        timings = time_inference(results, args.input_size, args.timing_rounds)
        text = markdown(results, timings, args, quick=args.quick, load_before=load_before, archive=archive)
        write_archive(archive, results, archived)
        _common.write_text(output, keep_hand_written(output, text))
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"wrote {output}")
    return output


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
