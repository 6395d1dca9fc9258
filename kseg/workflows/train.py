"""One training run end to end: data, model, fit, evaluate, export.

A workflow above the building blocks it strings together (``kseg.data``,
``kseg.models``, ``kseg.training``, ``kseg.inference``, ``kseg.export``);
none of them imports it.
"""

import dataclasses
import os
import sys
import time

import keras
import numpy as np

from kseg import data as kdata
from kseg import export, inference, losses, metrics, models, quantization
from kseg._io import atomic_write_json, check_writable_dir
from kseg.data.holdout import shared_files, split_holdout
from kseg.training import BestCheckpoint, PolyLearningRate, get_strategy, is_chief, set_precision, standard_callbacks
from kseg.training.distillation import student_of, with_teacher
from kseg.training.ema import add_ema_callbacks, ema_optimizer_kwargs
from kseg.training.final_model import save_final_model
from kseg.workflows import resume

# Per-epoch validation at the images' own size pads them to a multiple of every zoo model's output stride.
VAL_PAD_MULTIPLE = 32


@dataclasses.dataclass
class TrainResult:
    """What a run produced; ``summary()`` prints it for people."""

    output_dir: str
    best_epoch: int
    best_val_miou: float
    val_report: dict
    model_path: str
    saved_model: str = None
    tflite: str = None
    seconds: float = 0.0

    def summary(self):
        lines = [
            "=" * 60,
            f"best epoch          : {self.best_epoch}",
            f"val mIoU (per epoch): {100 * self.best_val_miou:.2f}%",
            f"val mIoU (full res) : {100 * self.val_report['miou']:.2f}%  "
            f"(pixel acc {100 * self.val_report['pixel_accuracy']:.2f}%, "
            f"{self.val_report['num_images']} images)",
            f"best model          : {self.model_path}",
            f"evaluation report   : {os.path.join(self.output_dir, 'eval_val', 'report.json')}",
        ]
        if self.saved_model:
            lines.append(f"SavedModel          : {self.saved_model}")
        if self.tflite:
            lines.append(f"TFLite              : {self.tflite}")
        lines += [f"training time       : {self.seconds:.0f} s", "=" * 60]
        return "\n".join(lines)


def _source_kwargs(config, spec):
    """Keyword arguments for ``kseg.data.load`` of ``spec`` beyond the label map and ignore id
    (the mask options of folder and list sources go here)."""
    return kdata.source_options(spec, colour_table=config.colour_table, mask_suffix=config.mask_suffix,
                                on_error=config.on_error)


def has_own_val_split(spec):
    """Whether the data spec names a validation split of its own (``folder:``/``list:`` need ``{split}``)."""
    return spec.split(":", 1)[0] not in ("folder", "list") or "{split}" in spec


def load_data(config):
    """``(train, val, holdout)`` for ``config``: ``holdout`` is ``(held out, total)`` when the
    validation images were held out of ``config.data`` by ``val_fraction``, else None.

    Refuses validation data that shares files with the training data (unless ``val_data`` is
    ``"same"``) and a ``num_classes`` that disagrees with the data's class count.
    """
    def load(spec, split, **extra):
        return kdata.load(spec, split, label_map=config.label_map, ignore_id=config.ignore_id,
                          **_source_kwargs(config, spec), **extra)

    train = load(config.data, config.train_split)
    if config.num_classes is not None and config.num_classes != train.num_classes:
        if train.num_classes > config.num_classes and config.data.split(":", 1)[0] in ("folder", "list"):
            # Name the masks holding ids that the declared count leaves out.
            load(config.data, config.train_split, num_classes=config.num_classes, validate="full")
        raise ValueError(
            f"--num-classes {config.num_classes} disagrees with the data {config.data!r}, which has "
            f"{train.num_classes} classes"
            + (f" ({', '.join(train.class_names)})" if train.num_classes <= 20 else "")
            + ": pass --num-classes to match, or a --label-map that lists every class (one that never "
            "appears in the masks included)."
        )
    holdout = None
    if config.val_data == "same":
        val = train
    elif config.val_data is None and not has_own_val_split(config.data):
        if config.val_fraction == 0:
            raise ValueError(
                f"--data {config.data} has no validation split and --val-fraction 0 holds out no images: pass "
                "--val-data SPEC, a --val-fraction above 0, or --val-data same to validate on the training images.")
        total = train.num_examples
        train, val = split_holdout(train, config.val_fraction)
        holdout = (val.num_examples, total)
    else:
        val = load(config.val_data or config.data, config.val_split)
        shared = shared_files(train, val)
        if shared and config.train_split != "train":  # a training split chosen to hold these (CamVid trainval)
            print(f"validating on {val.num_examples} images of which {len(shared)} are in the training split "
                  f"{config.train_split!r}: the per-epoch scores measure fit, not generalisation")
            shared = ()
        if shared:
            raise ValueError(
                f"Validation data {config.val_data or config.data!r} [{config.val_split}] shares {len(shared)} of "
                f"its {val.num_examples} images with the training data {config.data!r} (e.g. {shared[0]}): the "
                "scores would measure memorisation. Use other files, leave --val-data out to hold out "
                "--val-fraction of the images, or pass --val-fraction 0 --val-data same to validate on the "
                "training images knowingly.")
    if val.num_classes != train.num_classes:
        raise ValueError(
            f"Validation data {config.val_data!r} has {val.num_classes} classes, training data "
            f"{config.data!r} has {train.num_classes}."
        )
    return train, val, holdout


def _base_scale(config):
    return "fit" if config.resize_to_fit else float(config.input_scale or 1.0)


def training_data(config, train_data):
    """The training batches of ``config``: random crops at native scale (times ``input_scale``)
    or, with ``resize_to_fit``, images fitted into ``input_size``, augmented."""
    return kdata.training_pipeline(
        train_data, input_size=tuple(int(v) for v in config.input_size), batch_size=config.batch_size,
        augment=config.augment_config(), seed=config.seed, ignore_id=config.ignore_id,
        base_scale=_base_scale(config), soft_labels=config.teacher_cache)


def validation_data(config, val_data):
    """The per-epoch validation batches: fitted into ``val_size`` (default ``input_size`` when
    resizing to fit), else each image at its own resolution times ``input_scale``, padded."""
    if config.val_size is None and not config.resize_to_fit:
        return kdata.eval_pipeline(val_data, batch_size=1, pad_to_multiple=VAL_PAD_MULTIPLE,
                                   ignore_id=config.ignore_id, scale=float(config.input_scale or 1.0))
    val_size = tuple(int(v) for v in config.val_size or config.input_size)
    return kdata.training_pipeline(val_data, input_size=val_size, batch_size=config.batch_size, augment=False,
                                   shuffle=False, drop_remainder=False, ignore_id=config.ignore_id)


def _class_weights(config, train):
    weights = config.class_weights
    if weights is None:
        return None
    if isinstance(weights, str):
        weights = kdata.class_weights(train, train.num_classes, method=weights, ignore_id=config.ignore_id,
                                      power=float(config.class_weight_power))
        print(f"class weights ({config.class_weights}, power {config.class_weight_power}): {np.round(np.asarray(weights), 3).tolist()}")
    weights = [float(w) for w in weights]
    if len(weights) != train.num_classes:
        raise ValueError(f"class_weights has {len(weights)} values; the data has {train.num_classes} classes.")
    return weights


def build_model(config, num_classes):
    """The registry model of ``config`` (backbone folded into its kwargs)."""
    kwargs = dict(config.model_kwargs or {})
    if config.backbone is not None:
        kwargs["backbone"] = config.backbone
    try:
        return models.build(config.model, num_classes=num_classes, input_shape=(None, None, 3), **kwargs)
    except TypeError as error:
        raise ValueError(f"Model {config.model!r} does not accept these arguments {sorted(kwargs)}: {error}") from None


def _init_weights(model, path):
    """Load the weights of ``path`` into ``model``: the same architecture with any class count (another
    count gets a new head, ``kseg.models.load_weights_reheaded``); a different architecture is a clear error."""
    reheaded = models.load_weights_reheaded(model, path)
    print(f"initialised {model.name} from {path}" + (" (new head: the file has another class count)" if reheaded else ""))


def _training_model(config, num_classes, init_weights=None):
    """The model ``fit`` trains: the registry model (``init_weights`` loaded into it), fake-quantized
    under ``config.qat``, wrapped with the run's teacher (``kseg.training.distillation.with_teacher``)."""
    model = build_model(config, num_classes)
    if init_weights:
        _init_weights(model, init_weights)
    if config.qat:  # ranges start from the first training batch; the backup holds ordinary weights
        model = quantization.quantize_aware(model)
    return with_teacher(model, config.teacher, config.distillation, ignore_id=config.ignore_id,
                        teacher_cache=config.teacher_cache)


def _rebuild_last(model, output, config, steps_per_epoch):
    """Write the missing ``last.keras`` of the finished run in ``output`` from ``backup/`` and return None.

    The backup holds the state the last epoch ended with: the raw weights in
    the model and, with an EMA, the averages in the optimizer; this loads it
    into ``model`` (the run's ``_training_model``, compiled) and does what the end of ``fit`` did
    (``finalize_variable_values`` puts the averages in the model), so the file
    is the one the run would have saved.
    """
    weights = os.path.join(output, "backup", "latest.weights.h5")
    expected = steps_per_epoch * config.epochs
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(weights)
    except (OSError, ValueError) as error:
        raise ValueError(f"{weights} cannot be loaded into this run's model ({error}); last.keras cannot be "
                         "rebuilt: use a new --output.") from None
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    if steps != expected:
        raise ValueError(f"{weights} holds the state after {steps} training steps, not the {expected} of "
                         f"{config.epochs} epochs of {steps_per_epoch}: last.keras cannot be rebuilt from it.")
    if config.ema:
        model.optimizer.finalize_variable_values(model.trainable_variables)
    if not is_chief():
        return None
    path = save_final_model(model, os.path.join(output, "last.keras"), epochs=config.epochs, ema=config.ema)
    print(f"{output} holds a finished run ({config.epochs} epochs) without last.keras: rebuilt {path} from "
          f"{weights} ({steps} steps{', the weight averages' if config.ema else ''}); nothing to train.")
    return None


def compile_model(model, config, num_classes, steps_per_epoch, class_weights=None):
    """Loss, AdamW with a poly schedule, and mIoU as the metric (``val_miou`` in logs)."""
    schedule = PolyLearningRate(float(config.lr), decay_steps=max(1, steps_per_epoch * config.epochs))
    loss = losses.get(config.loss, ignore_id=config.ignore_id, class_weights=class_weights)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay,
                                         **ema_optimizer_kwargs(config.ema)),
        loss=loss,
        metrics=[metrics.MeanIoU(num_classes, ignore_id=config.ignore_id, name="miou")],
    )
    return model


def train(config):
    """Run ``config`` (a validated ``TrainConfig``); return a ``TrainResult``.

    Layout of ``config.output``: ``best.keras`` (best by val mIoU; with
    mixed precision or ``input_scale``, ``final.keras`` is its float32,
    full-resolution form, the one evaluated and exported),
    ``training_log.csv``, ``logs/`` (TensorBoard), ``backup/`` (resume state;
    kept after the last epoch so that a larger ``epochs`` extends the run),
    ``config.json`` (the settings, class names, validation files, replicas
    and any ``recipe_changes``), ``eval_val/`` (full-resolution report), and
    the export under ``config.export_base/config.export_name/<version>``.
    Rerunning in the same ``output`` resumes the run only under the same
    recipe (``kseg.workflows.resume``); rerunning a finished run whose
    ``last.keras`` is missing rebuilds it from ``backup/`` and returns None.
    """
    start = time.time()
    output = check_writable_dir(config.output)
    previous = resume.previous_run(output)
    changes = resume.check_resume(previous, config) if previous else {}
    keras.utils.set_random_seed(config.seed)
    set_precision(config.precision)
    strategy = get_strategy(config.strategy)
    replicas = int(strategy.num_replicas_in_sync)
    if config.strategy != "default":
        devices = ", ".join(getattr(strategy.extended, "worker_devices", ()))
        print(f"strategy {config.strategy}: training on {replicas} replica{'s' if replicas != 1 else ''}"
              + (f" ({devices})" if devices else ""))
    train_data, val_data, holdout = load_data(config)
    num_classes = train_data.num_classes
    resume.check_num_classes(previous, num_classes)
    steps = config.steps_per_epoch or max(1, (train_data.num_examples or 1) // config.batch_size)
    if previous is not None and previous.rebuilds_last(config.epochs):
        # Every weight comes from the backup: no starting weights, class weights or input pipelines.
        with strategy.scope():
            model = compile_model(_training_model(config, num_classes), config, num_classes, steps)
        return _rebuild_last(model, output, config, steps)
    weights = _class_weights(config, train_data)

    size = tuple(int(v) for v in config.input_size)
    train_ds = training_data(config, train_data)
    val_ds = validation_data(config, val_data)
    with strategy.scope():
        model = _training_model(config, num_classes, config.init_weights)
        compile_model(model, config, num_classes, steps, weights)
    chief = is_chief()
    if changes:
        print(f"continuing {output} after epoch {previous.epochs_done} under a changed recipe: "
              + "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changes.items()))
    if chief:
        atomic_write_json(os.path.join(output, "config.json"), {
            **config.to_dict(), "class_names": list(train_data.class_names), "replicas": replicas,
            "input_mode": config.input_mode(), "train_images": train_data.num_examples,
            "val_images": val_data.num_examples, "val_files": [p[0] for p in val_data.files],
            "recipe_changes": resume.recipe_history(previous, changes)})
    print(f"model {model.name}: {model.count_params():,} parameters; {num_classes} classes; "
          f"{train_data.num_examples} training images, batch {config.batch_size}")
    print(f"training on {config.input_mode()}")
    if holdout:
        print(f"validating on {holdout[0]} of {holdout[1]} images held out (--val-fraction {config.val_fraction:g})")
    elif config.val_data == "same":
        print(f"validating on the {val_data.num_examples} training images (--val-data same): the scores "
              "measure fit, not generalisation")
    callbacks = add_ema_callbacks(standard_callbacks(output, monitor="val_miou"), config.ema)
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.BackupAndRestore):
            callback.delete_checkpoint = False  # a larger --epochs extends the finished run from here
    history = model.fit(
        train_ds.repeat() if config.steps_per_epoch else train_ds,
        validation_data=val_ds,
        shuffle=False,  # the pipeline shuffles file paths every epoch
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,  # progress bars only on a terminal
    )
    best_path = os.path.join(output, "best.keras")
    if not chief:
        return None
    # The weights fit ends with (the averages under an EMA), for protocols that take the last weights.
    save_final_model(model, os.path.join(output, "last.keras"), epochs=config.epochs, ema=config.ema)
    require_finite_validation(best_path, history.history.get("val_miou"))
    best = student_of(keras.saving.load_model(best_path, safe_mode=True))
    if config.precision != "float32" or config.input_scale:
        best = _deployable(best, config, num_classes)
        best_path = os.path.join(output, "final.keras")
        best.save(best_path)
    val_hist = history.history.get("val_miou") or [float("nan")]
    best_epoch_info = _best_epoch(output, val_hist)
    print(f"evaluating {best_path} on {val_data.num_examples} images of {val_data.name or config.val_data or config.data} "
          "at full resolution")
    report = inference.evaluate(inference.keras_predictor(best, best_path), val_data,
                                output_dir=os.path.join(output, "eval_val"))
    result = TrainResult(output, best_epoch_info[0], best_epoch_info[1], report, best_path)
    if config.export_name:
        result.saved_model = export.export_saved_model(
            best, config.export_base, config.export_name, class_names=list(train_data.class_names))
        if config.export_tflite:
            tflite_size = config.export_size or tuple(round(s / (config.input_scale or 1.0)) for s in size)
            result.tflite = export.export_tflite(
                best, os.path.join(result.saved_model, "model_fp32.tflite"), input_size=tflite_size,
                class_names=list(train_data.class_names))
    result.seconds = time.time() - start
    return result


def _deployable(model, config, num_classes):
    """The float32, full-resolution model that is evaluated and exported.

    Mixed-precision training keeps float32 variables, so the weights move to
    a float32 rebuild unchanged (TFLite and TF Serving get float32 graphs);
    ``input_scale`` wraps the network to run at its training scale.
    """
    if config.precision != "float32":
        set_precision("float32")
        rebuilt = build_model(config, num_classes)
        if config.qat:
            rebuilt = quantization.quantize_aware(rebuilt)
        rebuilt.set_weights(model.get_weights())
        model = rebuilt
    if config.input_scale:
        from kseg.models.input_scale import with_input_scale

        model = with_input_scale(model, config.input_scale)
    return model


def require_finite_validation(best_path, val_hist):
    """One clear error when no epoch gave a finite validation score and so no best checkpoint exists.

    kseg's losses turn stray label ids into NaN under XLA and ``TerminateOnNaN`` stops ``fit``.
    """
    if os.path.exists(best_path) or np.isfinite(np.asarray(val_hist or [np.nan], dtype=float)).any():
        return
    raise ValueError(f"{os.path.dirname(best_path)}: training stopped before any epoch gave a finite validation "
                     "mIoU (the loss became NaN): check the masks for label ids outside [0, num_classes) other than "
                     "the ignore id, or lower --lr")


def _best_epoch(output, val_hist):
    """(1-based epoch, val mIoU) of the best checkpoint, across resumed runs.

    The checkpoint's own state knows the epochs of an interrupted run too;
    the history of this ``fit`` call is the fallback.
    """
    state = BestCheckpoint.read_state(os.path.join(output, "best.keras"))
    if state is not None:
        return state["epoch"] + 1, state["best"]
    i = int(np.nanargmax(val_hist))
    return i + 1, float(val_hist[i])
