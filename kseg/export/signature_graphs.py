"""The TensorFlow functions behind the SavedModel's two serving signatures."""

import tensorflow as tf

from kseg.export import _graph
from kseg.serving import signatures as sig


def _channel_check(images, channels):
    """Assert (InvalidArgument) that ``images`` has ``channels`` channels, then pin the static shape.

    The signature declares the channel dimension unknown so this check, not
    the convolution, answers: a 6-channel image would otherwise pass through
    a 3-channel model's first convolution as two groups.
    """
    got = tf.shape(images)[-1]
    check = tf.debugging.Assert(
        tf.equal(got, channels),
        [tf.strings.format(f"{sig.IMAGES}: expected {channels} channels, got {{}}", got)],
    )
    with tf.control_dependencies([check]):
        return tf.ensure_shape(tf.identity(images), [None, None, None, channels])


def serving_functions(model, spec, *, include_probabilities, max_image_size, tiler=None):
    """The two signature functions, keyed by signature name.

    Args:
        tiler: a ``kseg.models.tiling.SlidingWindow`` around ``model``: the
            signatures then run it band by band and reduce each band to
            classes (and probabilities) before the next, so the full-image
            logits are never held when only classes are returned.

    Returns:
        ``{name: (fn, input_signature)}`` ready for ``ExportArchive.add_endpoint``.
    """

    def outputs(images, reduce):
        if tiler is not None:
            return tiler.map_bands(images, reduce, training=False)
        return reduce(_graph.predict_logits(model, spec, images))

    def serve_images(images):
        shape = tf.shape(images)
        checks = [tf.debugging.assert_positive(shape[0], message=f"{sig.IMAGES}: the batch must hold at least one image")]
        checks += _graph.assert_image_size(shape[1], shape[2], max_image_size, sig.IMAGES)
        with tf.control_dependencies(checks):
            images = _channel_check(images, spec.channels)
        return outputs(
            images,
            lambda logits: _graph.logits_to_outputs(logits, include_probabilities=include_probabilities),
        )

    def serve_encoded(image_bytes):
        with tf.control_dependencies(
            [tf.debugging.assert_positive(tf.size(image_bytes), message=f"{sig.IMAGE_BYTES}: the batch is empty")]
        ):
            image_bytes = tf.identity(image_bytes)

        # decode_image converts every PNG/JPEG to spec.channels (gray to RGB,
        # alpha dropped), so no channel check is needed here.
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
            classes = outputs(decode(data)[None], lambda logits: _graph.logits_to_outputs(logits)[sig.CLASSES])[0]
            pad = [[0, max_height - tf.shape(classes)[0]], [0, max_width - tf.shape(classes)[1]]]
            return tf.pad(classes, pad, constant_values=sig.PAD_CLASS)

        classes = tf.map_fn(classify, image_bytes, fn_output_signature=tf.TensorSpec([None, None], tf.int32))
        return {sig.CLASSES: classes, sig.HEIGHTS: sizes[:, 0], sig.WIDTHS: sizes[:, 1]}

    return {
        # Channels unknown here so _channel_check gives the clear error.
        sig.SERVING_DEFAULT: (serve_images, [tf.TensorSpec([None, None, None, None], tf.uint8, name=sig.IMAGES)]),
        sig.PREDICT_ENCODED: (serve_encoded, [tf.TensorSpec([None], tf.string, name=sig.IMAGE_BYTES)]),
    }
