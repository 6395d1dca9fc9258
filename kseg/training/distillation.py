"""Knowledge distillation: train a student on its loss plus a frozen teacher's soft labels.

The teacher runs online, in inference mode, on the very batch the student
trains on (after augmentation), so soft labels and crops always agree; a
test-time-augmented teacher (``kseg.models.with_tta``) moves the views'
gain into the student's single pass at the price of its passes per step.
Or the teacher's logits come cached with the batch (``teacher=None``,
``kseg.training.teacher_cache``): the same soft labels without a teacher pass.
"""

import os

import keras
from keras import ops

from kseg._checks import check_ignore_id, check_number

# Options of a run's ``distillation`` mapping and their defaults.
DISTILLATION_DEFAULTS = {"tta": None, "weight": 1.0, "temperature": 1.0}


def soft_label_loss(y_true, student_logits, teacher_logits, *, temperature=1.0, ignore_id=255):
    """Hinton's soft-label term per pixel, averaged over labelled pixels.

    ``T**2 * KL(softmax(teacher / T) || softmax(student / T))`` summed over
    classes, then averaged over the pixels whose label is not ``ignore_id``
    (void and the ignore-padding of crops smaller than the input: there the
    teacher looks at padding, not at the scene). ``T**2`` keeps the gradient's
    size independent of ``T``.

    Args:
        y_true: int labels ``(B, H, W)`` or ``(B, H, W, 1)``.
        student_logits, teacher_logits: ``(B, H, W, C)`` logits.
        temperature: T > 0.
        ignore_id: label excluded from the average.

    Returns:
        float32 scalar (0 when no pixel is labelled).
    """
    temperature = check_number("temperature", temperature, inclusive=False)
    log_teacher = ops.log_softmax(ops.cast(teacher_logits, "float32") / temperature, axis=-1)
    log_student = ops.log_softmax(ops.cast(student_logits, "float32") / temperature, axis=-1)
    kl = ops.sum(ops.exp(log_teacher) * (log_teacher - log_student), axis=-1)
    labels = ops.reshape(ops.cast(y_true, "int32"), ops.shape(kl))
    valid = ops.cast(ops.not_equal(labels, ignore_id), "float32")
    return temperature**2 * ops.sum(kl * valid) / ops.maximum(ops.sum(valid), 1.0)


@keras.saving.register_keras_serializable(package="kseg")
class Distiller(keras.Model):
    """The student as a model to ``fit``, with a frozen teacher's soft labels added to its loss.

    ``call`` is the student's (predictions, metrics and validation are the
    student's own); during training ``compute_loss`` adds ``weight *
    soft_label_loss(y, student_logits, teacher(x))``. Validation loss is the
    compiled loss alone. The teacher is frozen (``trainable=False``, run with
    ``training=False``), so the optimizer, an EMA of the weights and
    ``init_weights`` concern the student only. Unwrap with :func:`student_of`.

    Args:
        student: segmentation model, logits ``(B, H, W, C)``.
        teacher: model with the same input and output shapes (e.g. a
            ``with_tta`` wrapper of a trained model), or None: training
            batches then bring the teacher's logits, ``x = {"images": ...,
            "teacher_logits": ...}`` (``kseg.data.training_pipeline``'s
            ``soft_labels``); validation batches stay plain images.
        weight: factor of the soft-label term, >= 0.
        temperature: softmax temperature T > 0.
        ignore_id: label whose pixels the soft-label term skips.
    """

    def __init__(self, student, teacher, *, weight=1.0, temperature=1.0, ignore_id=255, **kwargs):
        kwargs.setdefault("name", f"{student.name}_distiller")
        super().__init__(**kwargs)
        self.weight = check_number("distillation weight", weight)
        self.temperature = check_number("distillation temperature", temperature, inclusive=False)
        self.ignore_id = check_ignore_id(ignore_id)
        if teacher is not None and student.output_shape[-1] != teacher.output_shape[-1]:
            raise ValueError(
                f"Teacher {teacher.name!r} predicts {teacher.output_shape[-1]} classes, student {student.name!r} "
                f"{student.output_shape[-1]}."
            )
        self.student = student
        self.teacher = teacher
        if teacher is not None:
            self.teacher.trainable = False
        self.built = student.built and (teacher is None or teacher.built)  # both hold their weights already

    def call(self, inputs, training=None):
        return self.student(_images(inputs), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if not training or self.weight == 0:
            return loss
        if isinstance(x, dict):
            teacher_logits = x["teacher_logits"]
        elif self.teacher is None:
            raise ValueError("a Distiller without a teacher trains on batches that bring the teacher's logits: "
                             "x = {'images': ..., 'teacher_logits': ...} (training_pipeline(soft_labels=DIR)).")
        else:
            teacher_logits = self.teacher(x, training=False)
        return loss + self.weight * soft_label_loss(
            y, y_pred, ops.stop_gradient(teacher_logits), temperature=self.temperature, ignore_id=self.ignore_id)

    def get_config(self):
        return {
            "name": self.name,
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": None if self.teacher is None else keras.saving.serialize_keras_object(self.teacher),
            "weight": self.weight,
            "temperature": self.temperature,
            "ignore_id": self.ignore_id,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        student = keras.saving.deserialize_keras_object(config.pop("student"))
        teacher = config.pop("teacher")
        teacher = None if teacher is None else keras.saving.deserialize_keras_object(teacher)
        return cls(student, teacher, **config)


def _images(inputs):
    """The images of a batch that may bring cached teacher logits beside them."""
    return inputs["images"] if isinstance(inputs, dict) else inputs


def student_of(model):
    """The student inside a :class:`Distiller`; any other model as it is."""
    return model.student if isinstance(model, Distiller) else model


def check_distillation(teacher, options, teacher_cache=None):
    """Validate a run's ``teacher`` path (or ``teacher_cache`` folder) and ``distillation`` options;
    return the options with defaults.

    Raises:
        ValueError / FileNotFoundError: naming the key or file that is wrong.
    """
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise ValueError(f"distillation must be a mapping of {', '.join(DISTILLATION_DEFAULTS)}; got {options!r}.")
    unknown = sorted(set(options) - set(DISTILLATION_DEFAULTS))
    if unknown:
        raise ValueError(f"distillation has unknown keys: {', '.join(unknown)}. Known: {', '.join(DISTILLATION_DEFAULTS)}.")
    if teacher is not None and teacher_cache is not None:
        raise ValueError("give a teacher (run online) or a teacher_cache (its logits written beforehand), not both.")
    if options and teacher is None and teacher_cache is None:
        raise ValueError("distillation options are set but no teacher is given (--teacher MODEL.keras or "
                         "--teacher-cache DIR).")
    if teacher_cache is not None and options.get("tta") is not None:
        raise ValueError("distillation tta applies to an online teacher; a teacher_cache holds the logits of the "
                         "TTA it was written with (its index.json).")
    options = {**DISTILLATION_DEFAULTS, **options}
    if teacher is None and teacher_cache is None:
        return options
    if teacher is not None:
        _check_teacher_path(teacher)
    else:
        from kseg.data.soft_labels import read_index

        read_index(teacher_cache)
    if options["tta"] is not None:
        from kseg.models.tta import parse_tta

        parse_tta(options["tta"])
    check_number("distillation weight", options["weight"])
    check_number("distillation temperature", options["temperature"], inclusive=False)
    return options


def with_teacher(model, teacher, options=None, *, ignore_id=255, teacher_cache=None):
    """``model`` wrapped in a :class:`Distiller` with the teacher loaded from ``teacher`` (or fed by
    ``teacher_cache``: its logits come with the batches); ``model`` itself when both are None.
    ``options``: a run's ``distillation`` mapping."""
    if teacher is None and teacher_cache is None:
        return model
    options = check_distillation(teacher, options, teacher_cache)
    return Distiller(model, None if teacher is None else load_teacher(teacher, tta=options["tta"]),
                     weight=options["weight"], temperature=options["temperature"], ignore_id=ignore_id)


def _check_teacher_path(path):
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"teacher must be a .keras file; got {path!r}.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"teacher file {path!r} does not exist.")
    return path


def load_teacher(path, *, tta=None):
    """A trained ``.keras`` model as a frozen teacher, wrapped in ``with_tta`` when ``tta`` is a spec.

    Args:
        path: ``.keras`` file (a training run's checkpoint or an
            optimizer-free copy).
        tta: None, or a ``--tta`` spec such as ``"flip"`` or ``"flip,1,2"``
            (``kseg.models.parse_tta``); each view costs one teacher pass per
            training step.

    Raises:
        FileNotFoundError / ValueError: naming ``path`` or ``tta``.
    """
    from kseg.models.tta import parse_tta, with_tta

    path = _check_teacher_path(path)
    views = parse_tta(tta) if tta else None
    try:
        teacher = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises ValueError/TypeError/OSError for a foreign or broken file
        raise ValueError(f"teacher {path!r} cannot be loaded: {str(error).splitlines()[0] if str(error) else error!r}") \
            from None
    teacher = student_of(teacher)
    if views:
        teacher = with_tta(teacher, **views)
    teacher.trainable = False
    return teacher
