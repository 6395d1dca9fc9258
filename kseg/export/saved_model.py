"""SavedModel export for TF Serving: signatures, versions, atomic publish.

Layout written: ``<base_dir>/<name>/<version>/`` with ``saved_model.pb``,
``variables/`` and ``assets.extra/`` (``tf_serving_warmup_requests``,
``labels.txt``, ``kseg_export.json``). TF Serving polls ``<base_dir>/<name>``
and loads integer-named directories only, so the version is written under
``.tmp-<version>-<pid>`` and renamed into place in one step.
"""

import json
import importlib.util
import os
import warnings
import re
import shutil

import keras
import tensorflow as tf

from kseg import _compat
from kseg._io import check_writable_dir, pid_alive
from kseg.export import _graph
from kseg.export.labels import resolve_class_names, write_labels
from kseg.export.warmup import WARMUP_FILENAME, warmup_image, write_warmup_requests
from kseg.serving import signatures as sig

LABELS_FILENAME = "labels.txt"
METADATA_FILENAME = "kseg_export.json"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TMP_PATTERN = re.compile(r"^\.(tmp|old)-(\d+)-(\d+)$")


def _check_name(name):
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ValueError(
            f"name must start with a letter or digit and contain only letters, digits, '_', '.', '-'; got {name!r}."
        )
    return name


def list_versions(base_dir, name):
    """Sorted integer versions published under ``<base_dir>/<name>/``."""
    model_dir = os.path.join(os.fspath(base_dir), _check_name(name))
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(entry) for entry in os.listdir(model_dir)
        if entry.isdigit() and os.path.isdir(os.path.join(model_dir, entry))
    )


def _remove_stale_temporaries(model_dir):
    # Left behind by an export that was killed; nothing else can own them.
    for entry in os.listdir(model_dir):
        match = _TMP_PATTERN.match(entry)
        if match and not pid_alive(int(match.group(3))):
            shutil.rmtree(os.path.join(model_dir, entry), ignore_errors=True)


def serving_functions(model, spec, *, include_probabilities, max_image_size):
    """The two signature functions, keyed by signature name.

    Returns:
        ``{name: (fn, input_signature)}`` ready for ``ExportArchive.add_endpoint``.
    """

    def serve_images(images):
        shape = tf.shape(images)
        checks = [tf.debugging.assert_positive(shape[0], message=f"{sig.IMAGES}: the batch must hold at least one image")]
        checks += _graph.assert_image_size(shape[1], shape[2], max_image_size, sig.IMAGES)
        with tf.control_dependencies(checks):
            logits = _graph.predict_logits(model, spec, tf.identity(images))
        return _graph.logits_to_outputs(logits, include_probabilities, sig.PROBABILITIES, sig.CLASSES)

    def serve_encoded(image_bytes):
        with tf.control_dependencies(
            [tf.debugging.assert_positive(tf.size(image_bytes), message=f"{sig.IMAGE_BYTES}: the batch is empty")]
        ):
            image_bytes = tf.identity(image_bytes)

        def decode(data):
            return _graph.decode_image(data, spec.channels, max_image_size, sig.IMAGE_BYTES)

        # Header sizes are cheap and let every image be rejected before any
        # is decoded or run through the model.
        sizes = tf.map_fn(
            lambda data: _graph.checked_size(data, max_image_size, sig.IMAGE_BYTES),
            image_bytes, fn_output_signature=tf.int32,
        )
        max_height = tf.reduce_max(sizes[:, 0])
        max_width = tf.reduce_max(sizes[:, 1])

        # One image at a time: each runs at its own resolution, then pads to
        # the batch's largest size so the output is one dense tensor.
        def classify(data):
            logits = _graph.predict_logits(model, spec, decode(data)[None])
            classes = tf.argmax(logits[0], axis=-1, output_type=tf.int32)
            pad = [[0, max_height - tf.shape(classes)[0]], [0, max_width - tf.shape(classes)[1]]]
            return tf.pad(classes, pad, constant_values=sig.PAD_CLASS)

        classes = tf.map_fn(classify, image_bytes, fn_output_signature=tf.TensorSpec([None, None], tf.int32))
        return {sig.CLASSES: classes, sig.HEIGHTS: sizes[:, 0], sig.WIDTHS: sizes[:, 1]}

    return {
        sig.SERVING_DEFAULT: (
            serve_images, [tf.TensorSpec([None, None, None, spec.channels], tf.uint8, name=sig.IMAGES)]
        ),
        sig.PREDICT_ENCODED: (serve_encoded, [tf.TensorSpec([None], tf.string, name=sig.IMAGE_BYTES)]),
    }


def _drop_duplicate_variable_lists(archive):
    """Keep one copy of each weight in the SavedModel checkpoint.

    Keras 3.15's ExportArchive saves the tracked Keras variables and, under
    ``_all_variables``, the TF variables its endpoints capture: two
    checkpoint entries for every weight, so the ``variables/`` folder is
    twice the model's size (63 MB instead of 31 MB for a 7.8M-parameter
    U-Net). The endpoints only need the captured ones, which write_out
    gathers itself, so the Keras lists are emptied before writing.
    """
    trackable = _compat.export_archive_trackable(archive)
    if trackable is None:
        return
    trackable.variables = []
    trackable.trainable_variables = []
    trackable.non_trainable_variables = []


def _write_version(model, spec, directory, name, *, include_probabilities, max_image_size, warmup, class_names):
    archive = keras.export.ExportArchive()
    archive.track(model)
    functions = serving_functions(
        model, spec, include_probabilities=include_probabilities, max_image_size=max_image_size
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
    metadata = {
        "name": name,
        "model": model.name,
        "num_classes": spec.num_classes,
        "class_names": class_names,
        "input_channels": spec.channels,
        "fixed_input_size": spec.fixed_size,
        "size_divisor": spec.size_divisor,
        "max_image_size": max_image_size,
        "include_probabilities": include_probabilities,
        "signatures": {
            sig.SERVING_DEFAULT: {"inputs": [sig.IMAGES], "outputs": [sig.CLASSES] + ([sig.PROBABILITIES] if include_probabilities else [])},
            sig.PREDICT_ENCODED: {"inputs": [sig.IMAGE_BYTES], "outputs": [sig.CLASSES, sig.HEIGHTS, sig.WIDTHS], "pad_class": sig.PAD_CLASS},
        },
    }
    with open(os.path.join(extra, METADATA_FILENAME), "w", encoding="utf-8") as handle:
        json.dump(metadata, handle, indent=2)


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
    fail with InvalidArgument.

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

    Returns:
        path of the published version directory.
    """
    name = _check_name(name)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise ValueError(f"version must be a non-negative int or None, got {version!r}.")
    if isinstance(max_image_size, bool) or not isinstance(max_image_size, int) or max_image_size < 1:
        raise ValueError(f"max_image_size must be a positive int, got {max_image_size!r}.")
    spec = _graph.inspect_model(model, size_divisor)
    class_names = resolve_class_names(class_names, spec.num_classes)
    model_dir = check_writable_dir(os.path.join(os.fspath(base_dir), name), "model directory")
    _remove_stale_temporaries(model_dir)
    if version is None:
        version = max(list_versions(base_dir, name), default=0) + 1
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final) and not force:
        raise FileExistsError(f"version {version} of {name!r} already exists at {final}; pass force=True to replace it.")
    tmp = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write_version(
            model, spec, tmp, name, include_probabilities=include_probabilities,
            max_image_size=max_image_size, warmup=warmup, class_names=class_names,
        )
        _publish(tmp, final, force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _publish(tmp, final, force):
    if os.path.exists(final):
        if not force:
            raise FileExistsError(f"{final} appeared while exporting; not replacing it without force=True.")
        # Two renames: TF Serving sees the old version vanish, then the new
        # one appear complete; never a mix of both.
        old = os.path.join(os.path.dirname(final), f".old-{os.path.basename(final)}-{os.getpid()}")
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(tmp, final)
    except OSError as error:
        raise FileExistsError(f"{final} appeared while exporting ({error.strerror}); not replacing it.") from None
