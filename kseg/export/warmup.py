"""TF Serving warmup records (``assets.extra/tf_serving_warmup_requests``).

TF Serving replays these PredictRequests when it loads a version, before it
marks the version available, so the first real request does not pay for
graph initialisation.
"""

import numpy as np
import tensorflow as tf

from kseg.serving import signatures as sig

WARMUP_FILENAME = "tf_serving_warmup_requests"


def warmup_image(height, width, channels):
    """A deterministic uint8 ``[height, width, channels]`` gradient image."""
    y = np.linspace(0, 255, height)[:, None, None]
    x = np.linspace(0, 255, width)[None, :, None]
    c = np.arange(channels)[None, None, :] * 85
    return ((y + x + c) % 256).astype(np.uint8)


def write_warmup_requests(path, model_name, image):
    """Write one request per kseg signature, both fed ``image``.

    Args:
        path: the TFRecord file to write.
        model_name: name put in each request's ``model_spec``.
        image: uint8 ``[H, W, C]``; C must be 1 or 3 (PNG-encodable).

    Returns:
        number of records written.
    """
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    image = np.asarray(image, np.uint8)
    encoded = tf.io.encode_png(image).numpy()
    inputs = {
        sig.SERVING_DEFAULT: (sig.IMAGES, tf.make_tensor_proto(image[None], dtype=tf.uint8)),
        sig.PREDICT_ENCODED: (sig.IMAGE_BYTES, tf.make_tensor_proto([encoded], dtype=tf.string, shape=[1])),
    }
    with tf.io.TFRecordWriter(path) as writer:
        for signature_name, (input_name, proto) in inputs.items():
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = signature_name
            request.inputs[input_name].CopyFrom(proto)
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return len(inputs)


def read_warmup_requests(path):
    """The ``PredictRequest`` protos stored in a warmup file."""
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        requests.append(log.predict_log.request)
    return requests
