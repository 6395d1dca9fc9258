"""The model zoo: one module per architecture, each registering its builders.

``build(name, *, num_classes, input_shape=(None, None, 3), **kwargs)`` and
``available()`` go through the registry; the builders are also importable
directly (``kseg.models.fcn8s(num_classes=21)``). Every model maps float32
images ``(B, H, W, C)`` with raw pixel values in [0, 255] to float32 logits
``(B, H, W, num_classes)`` at the input resolution. ``flops(model,
input_shape)`` counts a model's convolution FLOPs at a given size.
``with_input_scale(model, scale)`` runs a network trained at reduced scale
inside a full-resolution model; ``with_tta(model, flip=True, scales=(1.0,))``
averages its logits over flipped and rescaled views; ``with_tiling(model,
tile_size=(H, W), overlap=0.25)`` runs it in sliding windows over large
images (MMSegmentation's "slide" mode, exportable).

Presets: ``list_presets()``, ``preset_info(name)`` (the model card) and
``from_preset(name_or_path_or_url, *, file_hash=None, num_classes=None)``
load the shipped trained models; ``rehead(model, num_classes)`` replaces the
head the registry declares (``head_layers(name)``) and keeps every other
weight.

| name | paper | upsampling |
|---|---|---|
| ``fcn32s``, ``fcn16s``, ``fcn8s`` | Long et al. 2015 | transposed conv (bilinear init) |
| ``unet`` | Ronneberger et al. 2015 | transposed conv or bilinear |
| ``segnet``, ``segnet_basic`` | Badrinarayanan et al. 2017 | max unpooling |
| ``deeplab_v2``, ``deeplab_v3``, ``deeplab_v3_plus`` | Chen et al. 2017/2017/2018 | bilinear |
| ``fpn`` | Kirillov et al. 2019 | bilinear |
| ``dabnet`` | Li et al. 2019 | bilinear (dilated depthwise-asymmetric bottlenecks) |

See docs/models.md for parameter and FLOP counts.
"""

# Importing each architecture module registers its builders, once.
from kseg.models.dabnet import dabnet
from kseg.models.deeplab_v2 import deeplab_v2
from kseg.models.deeplab_v3 import deeplab_v3
from kseg.models.deeplab_v3_plus import deeplab_v3_plus
from kseg.models.fcn import fcn8s, fcn16s, fcn32s
# kseg.graph.flops, through its old module (whose import would otherwise rebind the name).
from kseg.models.flops import flops
from kseg.models.fpn import fpn
from kseg.models.heads import load_weights_reheaded, rehead
from kseg.models.input_scale import with_input_scale
from kseg.models.presets import from_preset, list_presets, preset_info
from kseg.models.registry import available, build, get_builder, head_layers
from kseg.models.segnet import segnet, segnet_basic
from kseg.models.tiling import SlidingWindow, with_tiling
from kseg.models.tta import parse_tta, with_tta
from kseg.models.unet import unet

__all__ = [
    "available", "build", "flops", "get_builder", "head_layers", "rehead", "load_weights_reheaded",
    "from_preset", "list_presets", "preset_info",
    "dabnet", "deeplab_v2", "deeplab_v3", "deeplab_v3_plus", "fcn8s", "fcn16s", "fcn32s", "fpn",
    "segnet", "segnet_basic", "unet", "parse_tta", "SlidingWindow", "with_input_scale", "with_tiling",
    "with_tta",
]
