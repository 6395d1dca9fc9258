"""Train a kseg model: ``python -m pipelines.train [--config FILE] [flags]``.

With no arguments this is the README main job: a small U-Net on the embedded
synthetic data, evaluated at full resolution and exported as a SavedModel and
a TFLite file under ``saved_models/``.
"""

import argparse

from pipelines._cli import add_data_arguments, data_options, run


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m pipelines.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML or TOML file; flags override its values")
    p.add_argument("--model", help="registry name (see kseg.models.available())")
    p.add_argument("--backbone", help="backbone name for models that take one")
    p.add_argument("--num-classes", type=int, help="the data's class count; a mismatch is refused")
    p.add_argument("--data", help="synthetic | camvid:PATH | folder:IMAGES:MASKS | list:FILE | tfds:NAME")
    p.add_argument("--val-data", help="validation data spec (default: --data, split val), or 'same' to validate on "
                   "the training images (with --val-fraction 0); files shared with --data are refused")
    p.add_argument("--val-fraction", type=float,
                   help="fraction of folder:/list: images (no {split} in the spec, no --val-data) held out for "
                        "validation, chosen by a hash of the file names (default 0.1, at least one image)")
    add_data_arguments(p)
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"),
                   help="training crop size: random crops at native scale (times --input-scale), the scale "
                        "evaluation and deployment see")
    p.add_argument("--resize-to-fit", action="store_true",
                   help="resize each image to fit --input-size before augmenting instead of cropping at native "
                        "scale (config key resize_to_fit)")
    p.add_argument("--input-scale", type=float,
                   help="run the model at this fraction of the data's resolution: crops are taken at this scale "
                        "and the evaluated/exported model resizes its input inside the graph (e.g. 0.5)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float, help="initial learning rate (poly decay to 0)")
    p.add_argument("--loss", help="cross_entropy | dice | focal | ce+dice")
    p.add_argument("--class-weights",
                   help="median_frequency | inverse_frequency | comma-separated floats")
    p.add_argument("--class-weight-power", type=float,
                   help="raise computed class weights to this power (0.5 softens median frequency)")
    p.add_argument("--train-split", help="split of --data to train on (default train; CamVid trainval = train+val, "
                                         "the papers' protocol)")
    p.add_argument("--ema", type=float, metavar="MOMENTUM",
                   help="keep an exponential moving average of the weights (e.g. 0.999); validation, checkpoints "
                        "and last.keras use it")
    p.add_argument("--teacher", metavar="MODEL",
                   help=".keras model whose soft labels join the loss (distillation; config key distillation sets "
                        "weight and temperature)")
    p.add_argument("--teacher-tta", metavar="SPEC", help="run the teacher with this test-time augmentation, e.g. flip")
    p.add_argument("--teacher-cache", metavar="DIR",
                   help="distil from a teacher's logits written beforehand by python -m pipelines.teacher_cache "
                        "(no teacher pass per step; instead of --teacher)")
    p.add_argument("--init-weights", help=".keras or .weights.h5 file of the same model to start from (fine-tuning; "
                   "a file with another class count gets a new head)")
    p.add_argument("--qat", action="store_true",
                   help="fine-tune the --init-weights model quantization-aware (fake int8), for int8 TFLite export")
    p.add_argument("--preset", help="start from a trained preset (kseg.models.list_presets(), or a preset folder): "
                   "its architecture and weights, with a new head when the data has other classes")
    p.add_argument("--no-augment", action="store_true",
                   help="turn off scale jitter/flip/rotate/colour (crops stay random)")
    p.add_argument("--output", help="run directory (rerun the same command to resume; --epochs larger extends "
                                    "a finished run, and a finished run missing last.keras gets it rebuilt)")
    p.add_argument("--allow-recipe-change", action="store_true",
                   help="resume a run under changed settings (recorded with the epoch in its config.json)")
    p.add_argument("--strategy", help="default | mirrored | multi_worker (reads TF_CONFIG)")
    p.add_argument("--precision", help="float32 | mixed_float16 | mixed_bfloat16")
    p.add_argument("--export-name", help="SavedModel name under saved_models/ ('none' to skip export)")
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--seed", type=int)
    return p.parse_args(argv)


def _class_weights(text):
    if text is None or text in ("median_frequency", "inverse_frequency"):
        return text
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(
            f"--class-weights must be median_frequency, inverse_frequency or comma-separated floats; got {text!r}."
        ) from None


def _apply_preset(args):
    """``--preset``: the preset's model and weights become ``--model``/``--init-weights`` (and its input scale
    the default ``--input-scale``); returns the remaining config values (its builder arguments)."""
    from kseg.models.presets import training_options

    options = training_options(args.preset)
    if args.model not in (None, options["model"]) or args.init_weights:
        raise ValueError(f"--preset {args.preset} sets the model ({options['model']}) and its starting weights: "
                         "drop --model and --init-weights.")
    args.model, args.init_weights = options["model"], options["init_weights"]
    if args.input_scale is None:
        args.input_scale = options["input_scale"]
    return {"model_kwargs": options["model_kwargs"]}


def main(argv=None):
    args = parse_args(argv)
    preset = _apply_preset(args) if args.preset else {}
    from kseg.workflows import make_config, train

    config = make_config(
        args.config,
        model=args.model, backbone=args.backbone, num_classes=args.num_classes, data=args.data,
        val_data=args.val_data, val_fraction=args.val_fraction, label_map=args.label_map,
        **data_options(args),
        input_size=tuple(args.input_size) if args.input_size else None,
        resize_to_fit=True if args.resize_to_fit else None, input_scale=args.input_scale,
        allow_recipe_change=True if args.allow_recipe_change else None,
        batch_size=args.batch_size, epochs=args.epochs, lr=args.lr, loss=args.loss,
        class_weights=_class_weights(args.class_weights), class_weight_power=args.class_weight_power,
        init_weights=args.init_weights, qat=True if args.qat else None, augment=False if args.no_augment else None,
        train_split=args.train_split, ema=args.ema, teacher=args.teacher, teacher_cache=args.teacher_cache,
        output=args.output, strategy=args.strategy, precision=args.precision,
        export_name=args.export_name, steps_per_epoch=args.steps_per_epoch, seed=args.seed, **preset,
    )
    if args.teacher_tta:
        config.distillation = {**config.distillation, "tta": args.teacher_tta}
        config.validate()
    if config.export_name in ("none", ""):
        config.export_name = None
    result = train(config)
    if result is not None:
        print(result.summary())
    return 0


if __name__ == "__main__":
    run(main)
