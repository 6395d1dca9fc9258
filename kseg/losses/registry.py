"""Look up losses by name or config (for config files and the CLI)."""

import inspect

import keras

from kseg.losses.cross_entropy import CrossEntropy
from kseg.losses.dice import DiceLoss
from kseg.losses.focal import FocalLoss
from kseg.losses.weighted_sum import WeightedSum


def _cross_entropy_plus_dice(ce_weight=1.0, dice_weight=1.0, **kwargs):
    """``ce_weight * CrossEntropy + dice_weight * DiceLoss``; shared kwargs go to both."""
    ce_kwargs = _accepted(CrossEntropy, kwargs, exclude=("name",))
    dice_kwargs = _accepted(DiceLoss, kwargs, exclude=("name",))
    unknown = set(kwargs) - set(ce_kwargs) - set(dice_kwargs)
    if unknown:
        raise ValueError(
            f"Unknown argument(s) for loss 'ce+dice': {', '.join(sorted(unknown))}."
        )
    return WeightedSum(
        [(CrossEntropy(**ce_kwargs), ce_weight), (DiceLoss(**dice_kwargs), dice_weight)],
        name="ce_plus_dice",
    )


def _accepted(factory, kwargs, exclude=()):
    params = inspect.signature(factory).parameters
    return {k: v for k, v in kwargs.items() if k in params and k not in exclude}


_LOSSES = {
    "cross_entropy": CrossEntropy,
    "dice": DiceLoss,
    "focal": FocalLoss,
    "ce+dice": _cross_entropy_plus_dice,
}


def available():
    """Sorted names accepted by ``get``."""
    return sorted(_LOSSES)


def get(name_or_config, **kwargs):
    """Build a loss from a name, a config dict or an existing instance.

    Args:
        name_or_config: one of ``available()`` ("cross_entropy", "dice",
            "focal", "ce+dice"); or a dict ``{"name": ..., **arguments}`` as
            written in a config file; or a Keras serialized dict (with
            ``"class_name"``); or a ``keras.losses.Loss`` instance (returned
            unchanged, ``kwargs`` must then be empty).
        **kwargs: constructor arguments, e.g. ``ignore_id``,
            ``class_weights``, ``gamma``, ``smooth``; "ce+dice" also takes
            ``ce_weight`` and ``dice_weight`` (default 1.0 each) and passes
            the rest to both terms.

    Raises:
        ValueError: unknown name (the message lists the known names) or
            arguments the loss does not take.
    """
    if isinstance(name_or_config, keras.losses.Loss):
        if kwargs:
            raise ValueError("Cannot apply keyword arguments to an existing loss instance.")
        return name_or_config
    if isinstance(name_or_config, dict):
        if "class_name" in name_or_config:
            if kwargs:
                raise ValueError("Cannot combine a serialized loss config with keyword arguments.")
            return keras.saving.deserialize_keras_object(name_or_config)
        config = dict(name_or_config)
        if "name" not in config:
            raise ValueError(
                f"A loss config dict needs a 'name' key (one of {', '.join(available())}); "
                f"got keys {sorted(config)}."
            )
        name = config.pop("name")
        return get(name, **{**config, **kwargs})
    if not isinstance(name_or_config, str) or name_or_config not in _LOSSES:
        raise ValueError(
            f"Unknown loss {name_or_config!r}. Known losses: {', '.join(available())}."
        )
    factory = _LOSSES[name_or_config]
    if factory is not _cross_entropy_plus_dice:
        params = inspect.signature(factory).parameters
        unknown = sorted(k for k in kwargs if k not in params)
        if unknown:
            raise ValueError(
                f"Unknown argument(s) for loss {name_or_config!r}: {', '.join(unknown)}. "
                f"Accepted: {', '.join(p for p in params if p != 'name')}."
            )
    return factory(**kwargs)
