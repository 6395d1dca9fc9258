"""Tiny widths of every registered model, for smoke tests, CPU experiments and export checks.

``kseg.models.build(name, num_classes=..., **SMALL_CONFIGS[name])`` builds a
model of the same architecture with few channels; the shared zoo test and
the export-parity benchmark use exactly these, so their numbers describe the
same networks.
"""

SMALL_CONFIGS = {
    "fcn32s": dict(fc_channels=32, dropout=0.0),
    "fcn16s": dict(fc_channels=32, dropout=0.0),
    "fcn8s": dict(fc_channels=32, dropout=0.0),
    "unet": dict(base_filters=8, depth=3),
    "segnet": dict(base_filters=8),
    "segnet_basic": dict(filters=16, kernel_size=3),
    "deeplab_v2": dict(backbone="mobilenet_v2", output_stride=16),
    "deeplab_v3": dict(backbone="mobilenet_v2", aspp_filters=32),
    "deeplab_v3_plus": dict(backbone="mobilenet_v2", aspp_filters=32, low_level_filters=16, decoder_filters=32),
    "dabnet": dict(stem_filters=8, stage1_filters=16, stage2_filters=16, stage1_blocks=1, stage2_dilations=(2, 4)),
    "fpn": dict(backbone="mobilenet_v2", pyramid_channels=32, segmentation_channels=16, groups=8),
}

# VGG16 without batch norm (the FCNs) diverges from scratch at Adam 1e-3 on
# raw-scale (caffe) inputs, as in the paper's low-learning-rate recipe.
SMALL_LEARNING_RATES = {"fcn32s": 1e-4, "fcn16s": 1e-4, "fcn8s": 1e-4}
