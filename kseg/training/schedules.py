"""Learning-rate schedules."""

import keras
from keras import ops

from kseg._checks import check_int, check_number


@keras.saving.register_keras_serializable(package="kseg")
class PolyLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """DeepLab's "poly" schedule with optional linear warmup.

    For optimizer step ``s`` (0-based), ``W = warmup_steps``,
    ``T = decay_steps``::

        s <  W:  lr = initial_learning_rate * (s + 1) / W
        s >= W:  lr = (initial - end) * (1 - min(s - W, T - W) / (T - W))**power + end

    Without warmup this is ``initial * (1 - s/T)**power`` (plus
    ``end_learning_rate``, default 0); after ``T`` steps the rate stays at
    ``end_learning_rate``. ``T`` counts all steps including the warmup, so
    set it to ``epochs * steps_per_epoch``.

    Args:
        initial_learning_rate: peak rate > 0.
        decay_steps: total steps T (int >= 1).
        power: exponent > 0 (DeepLab: 0.9).
        end_learning_rate: final rate, 0 <= end <= initial.
        warmup_steps: linear warmup steps, 0 <= W < T.

    ``__call__(step)`` returns a float32 scalar.
    """

    def __init__(self, initial_learning_rate, decay_steps, power=0.9, end_learning_rate=0.0,
                 warmup_steps=0, name="poly_learning_rate"):
        super().__init__()
        self.initial_learning_rate = check_number("initial_learning_rate", initial_learning_rate, inclusive=False)
        self.decay_steps = check_int(decay_steps, "decay_steps")
        self.power = check_number("power", power, inclusive=False)
        self.end_learning_rate = check_number("end_learning_rate", end_learning_rate)
        if self.end_learning_rate > self.initial_learning_rate:
            raise ValueError(
                f"end_learning_rate ({self.end_learning_rate}) must not exceed "
                f"initial_learning_rate ({self.initial_learning_rate})."
            )
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)
        if self.warmup_steps >= self.decay_steps:
            raise ValueError(
                f"warmup_steps ({self.warmup_steps}) must be smaller than decay_steps "
                f"({self.decay_steps})."
            )
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = float(self.warmup_steps)
        span = float(self.decay_steps - self.warmup_steps)
        progress = ops.clip(step - warmup, 0.0, span) / span
        decayed = (self.initial_learning_rate - self.end_learning_rate) * ops.power(
            1.0 - progress, self.power
        ) + self.end_learning_rate
        if self.warmup_steps == 0:
            return decayed
        ramp = self.initial_learning_rate * (step + 1.0) / warmup
        return ops.where(step < warmup, ramp, decayed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "power": self.power,
            "end_learning_rate": self.end_learning_rate,
            "warmup_steps": self.warmup_steps,
            "name": self.name,
        }
