"""Turns what a user hands a client into (signature, input name, value)."""

import numpy as np

from kseg.serving import signatures as sig


def normalize_inputs(inputs, signature_name=None):
    """Classify ``inputs`` as raw images or encoded images.

    Args:
        inputs: uint8 array ``[N, H, W, C]`` or one image ``[H, W, C]``
            (for ``serving_default``), or ``bytes`` / a list of ``bytes``
            holding PNG or JPEG files (for ``predict_encoded``).
        signature_name: ``None`` picks the signature from the input kind.

    Returns:
        ``(signature_name, input_name, value)``: ``value`` is a uint8 array
        ``[N, H, W, C]`` or a list of ``bytes``.
    """
    if isinstance(inputs, (bytes, bytearray)):
        inputs = [bytes(inputs)]
    if isinstance(inputs, (list, tuple)) and inputs and all(
        isinstance(item, (bytes, bytearray)) for item in inputs
    ):
        value = [bytes(item) for item in inputs]
        if any(len(item) == 0 for item in value):
            raise ValueError("inputs: encoded images must not be empty byte strings.")
        kind = sig.PREDICT_ENCODED
    else:
        value = np.asarray(inputs)
        if value.dtype != np.uint8:
            raise ValueError(
                f"inputs: images must be uint8 (raw 0..255 pixels), got dtype {value.dtype}; "
                "convert with np.asarray(images, np.uint8) or send encoded PNG/JPEG bytes."
            )
        if value.ndim == 3:
            value = value[None]
        if value.ndim != 4 or value.shape[0] == 0:
            raise ValueError(
                f"inputs: images must have shape [N, H, W, C] or [H, W, C] with N >= 1, got {value.shape}."
            )
        kind = sig.SERVING_DEFAULT
    if signature_name is None:
        signature_name = kind
    expected = sig.INPUT_OF_SIGNATURE.get(signature_name)
    if expected is not None and signature_name != kind:
        raise ValueError(
            f"signature_name {signature_name!r} takes {expected!r} but the inputs are "
            f"{'encoded bytes' if kind == sig.PREDICT_ENCODED else 'a uint8 image array'}."
        )
    return signature_name, sig.INPUT_OF_SIGNATURE[kind], value


def restore_dtypes(outputs):
    """Cast decoded outputs to the dtypes the exporter declares for them."""
    return {
        name: np.asarray(value, dtype=sig.OUTPUT_DTYPES.get(name)) if name in sig.OUTPUT_DTYPES else np.asarray(value)
        for name, value in outputs.items()
    }


def crop_encoded_classes(outputs):
    """Split a ``predict_encoded`` result into one class map per image.

    Args:
        outputs: dict with ``classes`` int32 ``[N, Hmax, Wmax]`` and
            ``heights``/``widths`` int32 ``[N]``.

    Returns:
        list of N int32 arrays ``[h_i, w_i]``, each at its image's own size.
    """
    missing = {sig.CLASSES, sig.HEIGHTS, sig.WIDTHS} - set(outputs)
    if missing:
        raise ValueError(f"outputs lack {sorted(missing)}; is this a {sig.PREDICT_ENCODED!r} response?")
    classes = np.asarray(outputs[sig.CLASSES])
    return [
        classes[i, :h, :w]
        for i, (h, w) in enumerate(zip(np.asarray(outputs[sig.HEIGHTS]), np.asarray(outputs[sig.WIDTHS])))
    ]
