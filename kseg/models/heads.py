"""Re-heading: a trained zoo model for another class count, every weight but the head kept.

The head of each architecture is declared in the registry
(``kseg.models.registry.head_layers``). ``rehead(model, num_classes)``
rebuilds the model from its own config with the head's ``filters`` set to
``num_classes``, initialises the new head, and copies every other weight by
layer name. ``load_weights_reheaded(model, path)`` starts a model from a
``.keras`` or ``.weights.h5`` file of the same architecture trained with any
class count (``pipelines.train --init-weights``).
"""

import os

import keras
import numpy as np

from kseg.models.registry import head_layers


def num_classes_of(model):
    """The class count of a segmentation model: its logits' last dimension."""
    return int(model.outputs[0].shape[-1])


def _head(model):
    try:
        return head_layers(model.name)
    except ValueError:
        raise ValueError(
            f"Model {model.name!r} is not a registered kseg model: re-heading needs the head layers "
            "the registry declares (the network itself, not a wrapped one)."
        ) from None


def rehead(model, num_classes):
    """A copy of ``model`` that outputs ``num_classes`` logits.

    The declared head layers are new (the builder's initialisers); every
    other layer carries ``model``'s weights. Returns ``model`` itself when it
    already has ``num_classes`` classes. ``model`` is a functional zoo model
    named after its registry entry, ``(B, H, W, C)`` float32 pixels ->
    ``(B, H, W, num_classes)`` float32 logits.
    """
    num_classes = int(num_classes)
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be at least 2; got {num_classes}.")
    if num_classes == num_classes_of(model):
        return model
    head = set(_head(model))
    config = model.get_config()
    for layer in config["layers"]:
        # Layers downstream of the head see another channel count: they build when called.
        layer.pop("build_config", None)
        if layer["name"] in head:
            layer["config"]["filters"] = num_classes
    new = keras.Model.from_config(config)
    transfer_weights(model, new)
    return new


def transfer_weights(source, target):
    """Copy ``source``'s weights into ``target`` layer by layer (matched by name).

    A head layer (declared for ``target``'s registry name) whose weight shapes
    differ keeps ``target``'s initialisation. A layer ``source`` lacks is
    accepted only when all its weights are zero in ``target`` (an added
    skip such as DABNet's ``stride4_skip``, which leaves the function as
    ``source``'s); any other difference is a ``ValueError`` naming the layer
    and both shapes. Returns the names of the layers ``source`` lacked.
    """
    head = set(_head(target))
    layers = {layer.name: layer for layer in source.layers}
    added = []
    for layer in target.layers:
        if not layer.weights:
            continue
        other = layers.get(layer.name)
        if other is None:
            if any(np.any(np.asarray(w)) for w in layer.weights):
                raise ValueError(f"{source.name!r} has no layer {layer.name!r} to copy into {target.name!r}.")
            added.append(layer.name)
            continue
        want = [tuple(w.shape) for w in layer.weights]
        have = [tuple(w.shape) for w in other.weights]
        if want == have:
            layer.set_weights(other.get_weights())
        elif layer.name not in head:
            raise ValueError(f"layer {layer.name!r}: weights {have} do not fit {want} of model {target.name!r}.")
    return added


def _h5_num_classes(model, path):
    """The class count a ``.weights.h5`` file of ``model``'s architecture was saved with.

    Keras names the file's groups by layer class and order, not by layer
    name, so ``model``'s own weights are saved to a probe file first: the
    group holding a head kernel there is read from ``path``, and its shape
    differs from ``model``'s on the class axis.
    """
    import tempfile

    import h5py

    present = {layer.name for layer in model.layers}
    kernels = [w for name in _head(model) if name in present for w in model.get_layer(name).weights
               if len(w.shape) > 1]
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.weights.h5")
        model.save_weights(probe)
        with h5py.File(probe, "r") as mine, h5py.File(path, "r") as theirs:
            for kernel in kernels:
                value = np.asarray(kernel)
                paths = []
                mine.visititems(lambda name, item: paths.append(name) if isinstance(item, h5py.Dataset)
                                and item.shape == value.shape and np.array_equal(item[()], value) else None)
                if len(paths) == 1 and paths[0] in theirs:
                    differ = [b for a, b in zip(value.shape, theirs[paths[0]].shape) if a != b]
                    if len(differ) == 1 and len(theirs[paths[0]].shape) == value.ndim:
                        return differ[0]
    raise ValueError(f"{path}: not this architecture with another class count (head {list(_head(model))}).")


def _network(model, name):
    """``model``, or the network ``name`` inside a wrapper (input scale, TTA, tiling) around it."""
    if model.name == name:
        return model
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model) and layer.name == name]
    return inner[0] if len(inner) == 1 else model


def load_weights_reheaded(model, path):
    """Load the ``.keras`` / ``.weights.h5`` file ``path`` into ``model``, re-heading if needed.

    The file holds the same architecture trained with any class count:
    every layer but the head must fit exactly; the head is copied when its
    class count equals ``model``'s and kept as initialised otherwise. Layers
    a ``.keras`` file lacks must start at zero in ``model`` (``transfer_weights``).
    Returns ``True`` when the head was replaced. A file of another
    architecture is a ``ValueError`` naming it.
    """
    path = os.fspath(path)
    try:
        if path.endswith(".keras"):
            source = _network(keras.saving.load_model(path, compile=False, safe_mode=True), model.name)
        else:
            try:
                model.load_weights(path)
                return False
            except Exception:  # another class count (or another model): rebuild its twin to read it
                source = rehead(model, _h5_num_classes(model, path))
                source.load_weights(path)
        added = transfer_weights(source, model)
    except Exception as error:  # Keras raises ValueError/KeyError/OSError depending on the mismatch
        raise ValueError(
            f"init_weights {path!r} does not fit model {model.name!r} ({model.count_params():,} parameters): "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}"
        ) from None
    if added:
        print(f"{path} has no {', '.join(added)}: kept at zero, so {model.name} starts as the file's model")
    return num_classes_of(source) != num_classes_of(model)
