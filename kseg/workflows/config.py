"""What ``kseg.workflows.train`` runs: defaults (the README main job), config files, overrides."""

import dataclasses
import json
import os
from typing import Optional

from kseg._checks import check_int, check_number, positive_int

STRATEGIES = ("default", "mirrored", "multi_worker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
CLASS_WEIGHT_METHODS = ("median_frequency", "inverse_frequency")


@dataclasses.dataclass
class TrainConfig:
    """Everything one training run needs. The defaults are the README main job:
    a small U-Net on the embedded synthetic data, about 2 minutes on 2 CPU cores.

    ``class_weights``: None, a method name (``median_frequency``,
    ``inverse_frequency``, computed on the training data) or a list of
    ``num_classes`` floats; ``class_weight_power`` raises computed weights to
    that power (0.5 softens median-frequency balancing). ``init_weights``: a
    ``.keras`` or ``.weights.h5`` file of the same architecture whose weights
    start the run (fine-tuning from an earlier run; a resumed run's backup
    still wins). ``qat``: fine-tune the ``init_weights`` model
    quantization-aware (``kseg.quantization.quantize_aware``: fake int8
    weights and activations), so its int8 TFLite export keeps its accuracy.

    Mask options of ``folder:``/``list:`` data (``kseg.data.from_folders``'s
    keywords; flags ``--label-map``, ``--colour-table``, ``--mask-suffix``,
    ``--on-error``): ``label_map`` (``{raw: id}`` or ``"0=0,255=1"``),
    ``colour_table`` (RGB masks: ``{"r,g,b": id}``, a list of colours by id,
    ``"R,G,B=ID;..."`` or a file), ``mask_suffix`` (``"_mask"``: ``s000.png``
    pairs with ``s000_mask.png``; folder only), ``on_error`` (``raise`` or
    ``skip`` bad pairs with a warning).

    ``input_size``: (H, W) of the training crops. ``resize_to_fit`` False
    (default): random crops at native scale (times ``input_scale`` when set),
    so objects keep the size in pixels that evaluation and deployment see;
    the augmentation's ``scale`` range jitters around that. True: every
    image is first resized to fit inside ``input_size`` (aspect kept) and
    the ``scale`` range applies on top of that fit scale (the CamVid configs'
    recipe). ``input_scale``: the model runs at this fraction of the data's
    resolution: the evaluated and exported model resizes its input by this
    factor inside the graph and returns logits at full resolution (CamVid
    360x480 trained at 176x240: 0.5). ``export_size``: (H, W) of the TFLite
    file (default: ``input_size`` divided by ``input_scale``). ``val_size``:
    (H, W) the per-epoch validation images are fitted into (default: their
    own resolution times ``input_scale`` when cropping, ``input_size`` when
    resizing to fit). ``val_fraction``: for ``folder:``/``list:`` data with
    no ``{split}`` and no ``val_data``, this fraction of the images (at
    least one) is held out for validation, chosen by a hash of the file
    stems. ``val_data``: another spec, or ``"same"`` (validate on the
    training images; only with ``val_fraction: 0``). ``augment``: True (the
    default ``kseg.data.AugmentConfig``), False, or a mapping of
    ``AugmentConfig`` fields (``{scale: [0.75, 1.5]}``). ``model_kwargs`` go
    to the model builder (``backbone`` is a shortcut for
    ``model_kwargs["backbone"]``). ``allow_recipe_change``: resume a run
    under changed settings (recorded in its ``config.json``).

    ``train_split``: the split of ``data`` trained on (CamVid ``trainval``:
    train+val, the papers' protocol; validation then measures fit to images
    seen in training). ``ema``: momentum of an exponential moving average of
    the weights (``kseg.training.ema``; validation, checkpoints and the run's
    ``last.keras`` use the averages). ``teacher``: a ``.keras`` model whose
    soft labels are added to the loss (``kseg.training.distillation``);
    ``teacher_cache``: instead, a folder of a teacher's logits for every
    training image (``pipelines.teacher_cache``), read with the batches;
    ``distillation``: ``{tta: SPEC, weight: 1.0, temperature: 1.0}``.
    """

    model: str = "unet"
    model_kwargs: dict = dataclasses.field(default_factory=lambda: {"base_filters": 16, "depth": 3})
    backbone: Optional[str] = None
    num_classes: Optional[int] = None
    data: str = "synthetic"
    val_data: Optional[str] = None
    val_split: str = "val"
    val_fraction: float = 0.1
    label_map: Optional[object] = None
    colour_table: Optional[object] = None
    mask_suffix: str = ""
    on_error: str = "raise"
    ignore_id: int = 255
    input_size: tuple = (96, 96)
    resize_to_fit: bool = False
    input_scale: Optional[float] = None
    val_size: Optional[tuple] = None
    export_size: Optional[tuple] = None
    batch_size: int = 16
    epochs: int = 10
    lr: float = 3e-3
    weight_decay: float = 1e-4
    loss: str = "cross_entropy"
    class_weights: Optional[object] = None
    class_weight_power: float = 1.0
    init_weights: Optional[str] = None
    qat: bool = False
    augment: object = True
    output: str = "runs/quickstart"
    strategy: str = "default"
    precision: str = "float32"
    export_name: Optional[str] = "quickstart_unet"
    export_base: str = "saved_models"
    export_tflite: bool = True
    steps_per_epoch: Optional[int] = None
    seed: int = 0
    allow_recipe_change: bool = False
    train_split: str = "train"
    ema: Optional[float] = None
    teacher: Optional[str] = None
    teacher_cache: Optional[str] = None
    distillation: dict = dataclasses.field(default_factory=dict)

    def validate(self):
        """Check names and values before any data or model is touched."""
        from kseg import losses, models

        if self.model not in models.available():
            raise ValueError(f"Unknown model {self.model!r}. Known models: {', '.join(models.available())}.")
        if self.loss not in losses.available():
            raise ValueError(f"Unknown loss {self.loss!r}. Known losses: {', '.join(losses.available())}.")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {self.strategy!r}. Known strategies: {', '.join(STRATEGIES)}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"Unknown precision {self.precision!r}. Known: {', '.join(PRECISIONS)}.")
        if self.backbone is not None:
            from kseg import backbones

            if self.backbone not in backbones.available():
                raise ValueError(
                    f"Unknown backbone {self.backbone!r}. Known backbones: {', '.join(backbones.available())}."
                )
        for name in ("input_size", "val_size", "export_size"):
            _check_size(name, getattr(self, name), allow_none=name != "input_size")
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            positive_int(value, name)
        if self.input_scale is not None and not 0 < check_number("input_scale", self.input_scale) <= 4:
            raise ValueError(f"input_scale must be in (0, 4]; got {self.input_scale!r}.")
        if not 0 <= check_number("val_fraction", self.val_fraction) < 1:
            raise ValueError(f"val_fraction must be in [0, 1); got {self.val_fraction!r}.")
        if self.val_data == "same" and self.val_fraction != 0:
            raise ValueError("val_data 'same' validates on the training images: say so with val_fraction 0 "
                             "(--val-fraction 0 --val-data same).")
        for name in ("resize_to_fit", "allow_recipe_change", "qat"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false; got {getattr(self, name)!r}.")
        check_number("lr", self.lr, inclusive=False)
        check_int(self.num_classes, "num_classes", minimum=2, allow_none=True)
        if isinstance(self.class_weights, str) and self.class_weights not in CLASS_WEIGHT_METHODS:
            raise ValueError(
                f"class_weights must be {' or '.join(CLASS_WEIGHT_METHODS)} or a list of floats; "
                f"got {self.class_weights!r}."
            )
        self.augment_config()
        from kseg.training.distillation import check_distillation
        from kseg.training.ema import check_ema

        check_ema(self.ema)
        check_distillation(self.teacher, self.distillation, self.teacher_cache)
        if not isinstance(self.train_split, str) or not self.train_split:
            raise ValueError(f"train_split must be a split name such as 'train' or 'trainval'; got {self.train_split!r}.")
        from kseg.data.class_weights import check_power

        check_power(self.class_weight_power, "class_weight_power")
        if self.qat and self.init_weights is None:
            raise ValueError("qat fine-tunes a trained model quantization-aware: give init_weights "
                             "(--init-weights best.keras) too.")
        if self.init_weights is not None:
            path = os.fspath(self.init_weights)
            if not path.endswith((".keras", ".weights.h5")):
                raise ValueError(f"init_weights must be a .keras or .weights.h5 file; got {path!r}.")
            if not os.path.isfile(path):
                raise FileNotFoundError(f"init_weights file {path!r} does not exist.")
        return self

    def input_mode(self):
        """One line saying how training examples are made from the data."""
        h, w = (int(v) for v in self.input_size)
        if self.resize_to_fit:
            return f"images resized to fit {h}x{w} (resize_to_fit), then augmentation scale"
        scale = f"{float(self.input_scale):g} x native scale" if self.input_scale else "native scale"
        return f"random {h}x{w} crops at {scale} (resize_to_fit off)"

    def augment_config(self):
        """``augment`` as ``kseg.data.training_pipeline`` takes it: a bool or an ``AugmentConfig``."""
        if isinstance(self.augment, bool):
            return self.augment
        from kseg.data.augment import AugmentConfig

        if not isinstance(self.augment, dict):
            raise ValueError(f"augment must be true, false or a mapping of AugmentConfig fields; got {self.augment!r}.")
        fields = {f.name for f in dataclasses.fields(AugmentConfig)}
        unknown = sorted(set(self.augment) - fields)
        if unknown:
            raise ValueError(f"augment has unknown keys: {', '.join(unknown)}. Known: {', '.join(sorted(fields))}.")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in self.augment.items()}
        try:
            return AugmentConfig(**values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"augment: {error}") from None

    def to_dict(self):
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))


def _check_size(name, value, allow_none):
    if value is None and allow_none:
        return
    try:
        ok = len(tuple(value)) == 2 and min(int(v) for v in value) >= 16
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be two ints >= 16 (H W); got {value!r}.")


def read_config_file(path):
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) config into a dict.

    Unknown keys raise a ``ValueError`` naming them and the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file {path!r} does not exist.")
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml

            with open(path, encoding="utf-8") as f:
                values = yaml.safe_load(f) or {}
        elif suffix == ".toml":
            import tomllib

            with open(path, "rb") as f:
                values = tomllib.load(f)
        else:
            raise ValueError(f"Config file {path!r} must end in .yaml, .yml or .toml.")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"Cannot read config file {path!r}: {error}") from None
    except Exception as error:  # yaml.YAMLError / tomllib.TOMLDecodeError
        if isinstance(error, ValueError) and str(path) in str(error):
            raise
        raise ValueError(f"Config file {path!r} is not valid: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"Config file {path!r} must hold a mapping of settings.")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(k.replace("-", "_") for k in values) - known)
    if unknown:
        raise ValueError(f"Config file {path!r} has unknown keys: {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
    return {k.replace("-", "_"): v for k, v in values.items()}


def make_config(config_file=None, **overrides):
    """Defaults, then the config file, then the non-None ``overrides`` (CLI flags)."""
    values = read_config_file(config_file) if config_file else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("model", TrainConfig.model) != TrainConfig.model and "model_kwargs" not in values:
        values["model_kwargs"] = {}  # the default widths belong to the default model only
    for key in ("input_size", "export_size", "val_size"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    return TrainConfig(**values).validate()
