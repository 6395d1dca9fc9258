"""The explicit model registry: every builder registers itself once by name, with its head.

The head is the set of layers whose weights depend on the class count (most
models end in a convolution named ``classifier``; DeepLab V2 keeps its
classes inside ``aspp``, the FCNs spread them over their score and
upsampling layers). Re-heading a trained model for another class count
(``kseg.models.rehead``) replaces exactly these layers and keeps every other
weight; a test builds each model with two class counts and checks that the
layers whose weight shapes differ are exactly the declared head.
"""

_BUILDERS = {}
_HEADS = {}


def register(name, *, head=("classifier",)):
    """Decorator that registers a keyword-only builder under ``name``.

    ``head``: names of the layers whose weights depend on ``num_classes``.
    """

    def decorator(builder):
        if name in _BUILDERS:
            raise ValueError(f"Model {name!r} is already registered by {_BUILDERS[name].__module__}.")
        if not head or not all(isinstance(layer, str) and layer for layer in head):
            raise ValueError(f"Model {name!r}: `head` must name at least one layer; got {head!r}.")
        _BUILDERS[name] = builder
        _HEADS[name] = tuple(head)
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


def head_layers(name):
    """Names of the layers of model ``name`` whose weights depend on the class count."""
    get_builder(name)  # unknown names fail with the list of known ones
    return _HEADS[name]


def build(name, *, num_classes, input_shape=(None, None, 3), **kwargs):
    """Build the registered model ``name``.

    Returns a ``keras.Model`` mapping float32 images ``(B, H, W, C)`` with raw
    pixel values in [0, 255] to float32 logits ``(B, H, W, num_classes)``.
    """
    return get_builder(name)(num_classes=num_classes, input_shape=input_shape, **kwargs)
