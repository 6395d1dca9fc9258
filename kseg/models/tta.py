"""Test-time augmentation as a plain Keras model: average logits over flips and scales."""

import keras

from kseg.layers import Flip, ResizeByFactor, ResizeLike


def parse_tta(spec):
    """``"flip"``, ``"0.75,1,1.25"`` or ``"flip,0.75,1,1.25"`` -> ``dict(flip=..., scales=...)``.

    The ``--tta`` argument of ``pipelines.evaluate`` and ``pipelines.export``;
    without scale numbers the scale is 1.
    """
    parts = [p.strip() for p in str(spec).split(",") if p.strip()]
    flip = "flip" in parts
    try:
        scales = tuple(float(p) for p in parts if p != "flip") or (1.0,)
    except ValueError:
        raise ValueError(f"--tta must be 'flip' and/or comma-separated scales such as 'flip,0.75,1,1.25'; "
                         f"got {spec!r}.") from None
    if not parts or parts.count("flip") > 1:
        raise ValueError(f"--tta must be 'flip' and/or comma-separated scales; got {spec!r}.")
    return dict(flip=flip, scales=scales)


def with_tta(model, *, flip=True, scales=(1.0,)):
    """Wrap ``model`` so its logits are the mean over flipped and rescaled views of the input.

    For every factor in ``scales`` (the input resized by it, bilinear) and,
    with ``flip``, its horizontal mirror as well, ``model`` runs once; each
    result is mirrored back, resized to the input size and the logits are
    averaged. ``flip=True, scales=(1.0,)`` costs 2 passes; ``scales=(0.75,
    1.0, 1.25)`` with flip, 6. The wrapper is an ordinary functional model:
    it saves with ``safe_mode=True`` and exports to SavedModel and
    builtin-only TFLite like ``model``. Input ``(B, H, W, C)`` raw pixels,
    output float32 logits ``(B, H, W, num_classes)``.
    """
    scales = tuple(float(s) for s in scales)
    if not scales or any(not 0 < s <= 4 for s in scales) or len(set(scales)) != len(scales):
        raise ValueError(f"`scales` must be distinct numbers in (0, 4]; got {scales!r}.")
    if not flip and scales == (1.0,):
        return model
    inputs = keras.Input(model.inputs[0].shape[1:], name="images")
    views = []
    for scale in scales:
        tag = f"{scale:g}".replace(".", "_")
        scaled = inputs if scale == 1.0 else ResizeByFactor(scale, name=f"tta_scale_{tag}")(inputs)
        outputs = [model(scaled)]
        if flip:
            mirrored = model(Flip("horizontal", name=f"tta_flip_{tag}")(scaled))
            outputs.append(Flip("horizontal", name=f"tta_unflip_{tag}")(mirrored))
        views += [o if scale == 1.0 else ResizeLike(name=f"tta_resize_{tag}_{i}")([o, inputs])
                  for i, o in enumerate(outputs)]
    logits = keras.layers.Average(name="tta_mean")(views)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(inputs, logits, name=f"{model.name}_tta")
