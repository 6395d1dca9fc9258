"""The ``assets.extra/kseg_export.json`` record of a SavedModel export."""

from kseg._io import atomic_write_json
from kseg.serving import signatures as sig

LABELS_FILENAME = "labels.txt"
METADATA_FILENAME = "kseg_export.json"


def export_metadata(*, name, model_name, spec, class_names, max_image_size, include_probabilities,
                    tile_size=None, tile_overlap=None):
    """The JSON-ready dict describing one exported version (its keys are the schema).

    ``tile_size`` is ``[H, W]`` (and ``tile_overlap`` the overlap) when the
    export runs sliding-window inference, else both are None.
    """
    return {
        "name": name,
        "model": model_name,
        "num_classes": spec.num_classes,
        "class_names": class_names,
        "input_channels": spec.channels,
        "fixed_input_size": spec.fixed_size,
        "size_divisor": spec.size_divisor,
        "max_image_size": max_image_size,
        "include_probabilities": include_probabilities,
        "tile_size": list(tile_size) if tile_size is not None else None,
        "tile_overlap": tile_overlap if tile_size is not None else None,
        "signatures": {
            sig.SERVING_DEFAULT: {
                "inputs": [sig.IMAGES],
                "outputs": [sig.CLASSES] + ([sig.PROBABILITIES] if include_probabilities else []),
            },
            sig.PREDICT_ENCODED: {
                "inputs": [sig.IMAGE_BYTES],
                "outputs": [sig.CLASSES, sig.HEIGHTS, sig.WIDTHS],
                "pad_class": sig.PAD_CLASS,
            },
        },
    }


def write_metadata(path, metadata):
    """Write ``metadata`` as indented JSON at ``path``."""
    atomic_write_json(path, metadata)
