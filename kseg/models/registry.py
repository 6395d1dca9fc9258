"""The explicit model registry: every builder registers itself once by name."""

_BUILDERS = {}


def register(name):
    """Decorator that registers a keyword-only builder under ``name``."""

    def decorator(builder):
        if name in _BUILDERS:
            raise ValueError(f"Model {name!r} is already registered by {_BUILDERS[name].__module__}.")
        _BUILDERS[name] = builder
        return builder

    return decorator


def available():
    """Sorted names of every registered model."""
    return sorted(_BUILDERS)


def get_builder(name):
    """The builder function registered as ``name``; unknown names list the known ones."""
    try:
        return _BUILDERS[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}. Known models: {', '.join(available())}."
        ) from None


def build(name, *, num_classes, input_shape=(None, None, 3), **kwargs):
    """Build the registered model ``name``.

    Returns a ``keras.Model`` mapping float32 images ``(B, H, W, C)`` with raw
    pixel values in [0, 255] to float32 logits ``(B, H, W, num_classes)``.
    """
    return get_builder(name)(num_classes=num_classes, input_shape=input_shape, **kwargs)
