"""An exponential moving average (EMA) of the weights, on Keras optimizers' ``use_ema``.

Keras keeps the average inside the optimizer (``use_ema=True``,
``ema_momentum``): after every step ``average = m * average + (1 - m) *
weight`` over the trainable variables (the first step copies the weights),
and ``fit`` ends with ``optimizer.finalize_variable_values``, which
overwrites the model's trainable variables with the averages. On its own
that leaves every per-epoch number (validation, the best checkpoint, the
logs) on the raw weights and only the very end on the averaged ones.
``keras.callbacks.SwapEMAWeights(swap_on_epoch=True)`` swaps the averages
into the model for validation and at the end of every epoch (and back when
the next epoch begins), so validation, ``BestCheckpoint`` and the logs all
see the averaged weights. :func:`add_ema_callbacks` places it right after
``BackupAndRestore``: the backup (resume state) is written before the swap,
so it always holds the raw weights in the model and the averages in the
optimizer, which is what a resumed ``fit`` continues from; a ``.keras``
checkpoint written at the end of an epoch (``BestCheckpoint``) holds the
swapped pair (the averages as the model's weights, the raw weights in the
optimizer's average slots): load it for inference, resume from the backup.
BatchNorm statistics are not trainable and are not averaged: they keep
tracking the raw weights, which are close to the averages once the learning
rate has decayed (the poly schedule ends at 0).
"""

import keras


def check_ema(decay, name="ema"):
    """``None`` (no averaging) or the EMA momentum as a float in (0, 1).

    Raises:
        ValueError: naming ``name`` when ``decay`` is not such a number.
    """
    if decay is None:
        return None
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < float(decay) < 1:
        raise ValueError(f"{name} must be the averaging momentum, a number in (0, 1) such as 0.999; got {decay!r}.")
    return float(decay)


def ema_optimizer_kwargs(decay):
    """Keyword arguments that turn on the average in a Keras optimizer (``{}`` for ``None``)."""
    decay = check_ema(decay)
    if decay is None:
        return {}
    return {"use_ema": True, "ema_momentum": decay}


def add_ema_callbacks(callbacks, decay):
    """``callbacks`` with ``SwapEMAWeights(swap_on_epoch=True)`` right after ``BackupAndRestore``.

    Without a ``BackupAndRestore`` in ``callbacks`` the swap goes first.
    ``decay=None`` returns ``callbacks`` unchanged (a new list).
    """
    callbacks = list(callbacks)
    if check_ema(decay) is None:
        return callbacks
    position = next((i + 1 for i, c in enumerate(callbacks) if isinstance(c, keras.callbacks.BackupAndRestore)), 0)
    callbacks.insert(position, keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    return callbacks


def ema_weights(model):
    """The optimizer's averages as NumPy arrays, in ``model.trainable_variables`` order.

    Raises:
        ValueError: the model's optimizer keeps no average (not compiled
            with ``use_ema=True``, or not built yet).
    """
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    averages = getattr(optimizer, "_model_variables_moving_average", None)
    if not getattr(optimizer, "use_ema", False) or averages is None:
        raise ValueError(f"Model {model.name!r} has no weight average: compile it with use_ema=True and train it.")
    return [keras.ops.convert_to_numpy(v) for v in averages]
