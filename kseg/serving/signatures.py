"""Names of the serving signatures, their inputs and outputs.

One source of truth shared by the exporter (``kseg.export``) and the clients
(``kseg.serving``). Importing this module is cheap: no TensorFlow.

=================  ===============================  ==============================================
signature          input                            outputs
=================  ===============================  ==============================================
serving_default    images: uint8 [N, H, W, 3]       classes: int32 [N, H, W];
                                                    probabilities: float32 [N, H, W, C] (optional)
predict_encoded    image_bytes: string [N]          classes: int32 [N, Hmax, Wmax] padded with -1;
                   (PNG or JPEG)                    heights: int32 [N]; widths: int32 [N]
=================  ===============================  ==============================================

``serving_default`` answers INVALID_ARGUMENT (``images: expected 3 channels,
got 6``) for an image whose channel count is not the model's.
"""

SERVING_DEFAULT = "serving_default"
PREDICT_ENCODED = "predict_encoded"

IMAGES = "images"
IMAGE_BYTES = "image_bytes"

CLASSES = "classes"
PROBABILITIES = "probabilities"
HEIGHTS = "heights"
WIDTHS = "widths"

# Fills the classes of predict_encoded outside each image's own height/width:
# images of different sizes share one dense output tensor.
PAD_CLASS = -1

# JSON has no dtypes; clients restore the exporter's output dtypes by name.
OUTPUT_DTYPES = {
    CLASSES: "int32",
    PROBABILITIES: "float32",
    HEIGHTS: "int32",
    WIDTHS: "int32",
}

INPUT_OF_SIGNATURE = {SERVING_DEFAULT: IMAGES, PREDICT_ENCODED: IMAGE_BYTES}
