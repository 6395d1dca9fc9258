"""SavedModel export for TF Serving: build the archive and publish a version.

Layout written: ``<base_dir>/<name>/<version>/`` with ``saved_model.pb``,
``variables/`` and ``assets.extra/`` (``tf_serving_warmup_requests``,
``labels.txt``, ``kseg_export.json``). The pieces live one job per module:
``signature_graphs`` (the serving functions), ``_archive`` (a Keras
ExportArchive workaround), ``metadata`` (the JSON record) and ``publish``
(names, versions, atomic rename); their public names are importable from
here as before.
"""

import importlib.util
import os
import shutil
import warnings

import keras
import tensorflow as tf

from kseg._checks import check_int, positive_int
from kseg._io import check_writable_dir
from kseg.export import _graph
from kseg.export._archive import _drop_duplicate_variable_lists
from kseg.export.labels import resolve_class_names, write_labels
from kseg.export.metadata import LABELS_FILENAME, METADATA_FILENAME, export_metadata, write_metadata
from kseg.export.publish import check_name, list_versions, publish, remove_stale_temporaries, temporary_dir
from kseg.export.signature_graphs import serving_functions
from kseg.export.warmup import WARMUP_FILENAME, warmup_image, write_warmup_requests
from kseg.models.tiling import SlidingWindow, check_overlap, check_tile_size

__all__ = [
    "LABELS_FILENAME", "METADATA_FILENAME", "check_name", "export_saved_model", "list_versions", "serving_functions",
]

# The names these helpers had before the split.
_check_name = check_name
_remove_stale_temporaries = remove_stale_temporaries
_publish = publish


def _write_version(model, spec, directory, name, *, include_probabilities, max_image_size, warmup, class_names,
                   tiler=None):
    archive = keras.export.ExportArchive()
    archive.track(model)
    functions = serving_functions(
        model, spec, include_probabilities=include_probabilities, max_image_size=max_image_size, tiler=tiler
    )
    for signature_name, (fn, input_signature) in functions.items():
        archive.add_endpoint(signature_name, fn, input_signature=input_signature)
    _drop_duplicate_variable_lists(archive)
    try:
        archive.write_out(directory, verbose=False)
    except tf.errors.OperatorNotAllowedInGraphError as error:
        # e.g. keras UpSampling2D(interpolation="bilinear") branches in Python
        # on the (symbolic) image size, so it cannot serve any H and W.
        raise ValueError(
            f"model {model.name!r} cannot run on images of unknown height and width (a layer needs "
            "concrete sizes; keras UpSampling2D with bilinear interpolation is one such layer, "
            "kseg.layers.Upsample2D is not). Build the model with a fixed input_shape=(H, W, C) to export "
            f"it with resizing inside the graph, or replace that layer. Cause: {str(error).splitlines()[0]}"
        ) from None
    extra = os.path.join(directory, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    write_labels(os.path.join(extra, LABELS_FILENAME), class_names)
    if warmup and importlib.util.find_spec("tensorflow_serving") is None:
        # The warmup records are protos from tensorflow-serving-api (the `serving` extra).
        warnings.warn("tensorflow-serving-api is not installed, so no TF Serving warmup requests were written; "
                      "install them with: pip install 'kseg[serving]'.", stacklevel=3)
        warmup = False
    if warmup:
        size = spec.fixed_size or (spec.size_divisor * max(1, 64 // spec.size_divisor),) * 2
        channels = spec.channels if spec.channels in (1, 3) else None
        if channels is None:
            raise ValueError(f"warmup needs a 1- or 3-channel model (PNG), this one takes {spec.channels}; pass warmup=False.")
        write_warmup_requests(os.path.join(extra, WARMUP_FILENAME), name, warmup_image(*size, channels))
    metadata = export_metadata(
        name=name, model_name=model.name, spec=spec, class_names=class_names, max_image_size=max_image_size,
        include_probabilities=include_probabilities,
        tile_size=tiler.tile_size if tiler is not None else None,
        tile_overlap=tiler.overlap if tiler is not None else None,
    )
    write_metadata(os.path.join(extra, METADATA_FILENAME), metadata)


def export_saved_model(
    model,
    base_dir,
    name,
    *,
    version=None,
    force=False,
    include_probabilities=True,
    max_image_size=4096,
    warmup=True,
    class_names=None,
    size_divisor=None,
    tile_size=None,
    tile_overlap=0.25,
):
    """Publish ``model`` as ``<base_dir>/<name>/<version>/`` for TF Serving.

    Signatures (names in ``kseg.serving.signatures``):

    * ``serving_default``: ``images`` uint8 ``[N, H, W, C]`` (any H, W) ->
      ``classes`` int32 ``[N, H, W]`` and, if ``include_probabilities``,
      ``probabilities`` float32 ``[N, H, W, num_classes]``.
    * ``predict_encoded``: ``image_bytes`` string ``[N]`` (PNG or JPEG,
      sizes may differ) -> ``classes`` int32 ``[N, Hmax, Wmax]`` padded with
      -1, and ``heights``/``widths`` int32 ``[N]`` of each image.

    A model with a fixed input size gets images resized to it and logits
    resized back; a fully convolutional one gets sizes rounded up to its
    size divisor the same way. Empty batches, zero-size images, images
    larger than ``max_image_size`` on a side and bytes that are not PNG/JPEG
    fail with InvalidArgument, and so does an image whose channel count is
    not the model's (``images: expected 3 channels, got 6``).

    With ``tile_size=(H, W)`` both signatures run sliding-window inference
    (``kseg.models.with_tiling``): windows of that size with
    ``tile_overlap``, logits averaged where windows overlap, computed one
    band of window rows at a time and reduced to classes (and probabilities)
    per band, so memory follows the tile, not the image, when only classes
    are returned (``include_probabilities=False``). Both settings are
    recorded in ``kseg_export.json``.

    Args:
        model: keras model, float32 raw pixels (0..255) -> logits.
        base_dir: TF Serving model base directory (created if missing).
        name: model name (the directory under ``base_dir``).
        version: int >= 0; default: one past the highest existing version.
        force: replace an existing ``version``.
        include_probabilities: add ``probabilities`` to ``serving_default``.
        max_image_size: largest accepted height or width, in pixels.
        warmup: write ``assets.extra/tf_serving_warmup_requests``.
        class_names: names for ``assets.extra/labels.txt``.
        size_divisor: input-size multiple of a fully convolutional model;
            default: probed.
        tile_size: ``(height, width)`` of the sliding windows, or None to
            run the model on the whole image.
        tile_overlap: fraction of a tile shared by neighbouring windows, in [0, 1).

    Returns:
        path of the published version directory.
    """
    name = check_name(name)
    version = check_int(version, "version", minimum=0, allow_none=True)
    max_image_size = positive_int(max_image_size, "max_image_size")
    spec = _graph.inspect_model(model, size_divisor)
    tiler = None
    if tile_size is not None:
        tiler = SlidingWindow(model, check_tile_size(tile_size), check_overlap(tile_overlap, "tile_overlap"),
                              size_divisor=spec.size_divisor, name="sliding_window")
    class_names = resolve_class_names(class_names, spec.num_classes)
    model_dir = check_writable_dir(os.path.join(os.fspath(base_dir), name), "model directory")
    remove_stale_temporaries(model_dir)
    if version is None:
        version = max(list_versions(base_dir, name), default=0) + 1
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final) and not force:
        raise FileExistsError(f"version {version} of {name!r} already exists at {final}; pass force=True to replace it.")
    tmp = temporary_dir(model_dir, version)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write_version(
            model, spec, tmp, name, include_probabilities=include_probabilities,
            max_image_size=max_image_size, warmup=warmup, class_names=class_names, tiler=tiler,
        )
        publish(tmp, final, force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


