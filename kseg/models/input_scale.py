"""Run a segmentation network at a reduced scale inside a full-resolution model."""

import keras

from kseg.layers import ResizeByFactor, ResizeLike


def with_input_scale(model, scale):
    """Wrap ``model`` so it sees the input resized by ``scale``; logits return at input size.

    A network trained on images downscaled by ``scale`` (CamVid at half
    resolution on a CPU, say) is then evaluated, served and exported at the
    original resolution with the scale it learned. Input ``(B, H, W, C)``
    float32 raw pixels; output float32 logits ``(B, H, W, num_classes)``.
    ``scale == 1`` returns ``model`` unchanged.
    """
    if not 0 < float(scale) <= 4:
        raise ValueError(f"`scale` must be in (0, 4]; got {scale!r}.")
    if float(scale) == 1.0:
        return model
    inputs = keras.Input(model.inputs[0].shape[1:], name="images")
    scaled = ResizeByFactor(float(scale), name="input_scale")(inputs)
    logits = ResizeLike(name="logits_to_input")([model(scaled), inputs])
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(inputs, logits, name=f"{model.name}_x{float(scale):g}")
