"""TF Serving gRPC API: PredictRequest building, response parsing, a client."""

from kseg._checks import check_int
from kseg.serving import signatures as sig
from kseg.serving._inputs import crop_encoded_classes, normalize_inputs, restore_dtypes
from kseg.serving.errors import ServingError

# Raw images are big: the 4 MiB gRPC default refuses a single 1080p batch.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


def build_grpc_request(inputs, model_name, signature_name=None, version=None):
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest``.

    Args:
        inputs: uint8 images ``[N, H, W, C]`` / ``[H, W, C]`` or PNG/JPEG
            ``bytes`` (one or a list), as in ``build_rest_request``.
        model_name: the served model's name.
        signature_name: defaults to the signature that takes ``inputs``.
        version: pin a version (int) or ``None`` for the latest.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    if not model_name or not isinstance(model_name, str):
        raise ValueError(f"model_name must be a non-empty string, got {model_name!r}.")
    signature_name, input_name, value = normalize_inputs(inputs, signature_name)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if check_int(version, "version", minimum=0, allow_none=True) is not None:
        request.model_spec.version.value = int(version)
    if isinstance(value, list):
        proto = tf.make_tensor_proto(value, dtype=tf.string, shape=[len(value)])
    else:
        proto = tf.make_tensor_proto(value, dtype=tf.uint8)
    request.inputs[input_name].CopyFrom(proto)
    return request


def parse_grpc_response(response):
    """``PredictResponse`` -> ``{output name: np.ndarray}`` with kseg's dtypes."""
    import tensorflow as tf

    return restore_dtypes({name: tf.make_ndarray(proto) for name, proto in response.outputs.items()})


class GrpcClient:
    """Client for a TF Serving gRPC endpoint (default port 8500).

    Example::

        with GrpcClient("localhost", 8500, "pets") as client:
            classes = client.predict(images)["classes"]
    """

    def __init__(self, host="localhost", port=8500, model_name=None, version=None, *, timeout=30.0):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        if not model_name or not isinstance(model_name, str):
            raise ValueError(f"model_name must be a non-empty string, got {model_name!r}.")
        port = check_int(port, "port", maximum=65535)
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}.")
        self.model_name, self.version, self.timeout = model_name, version, timeout
        self._grpc = grpc
        self._channel = grpc.insecure_channel(
            f"{host}:{port}",
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def predict(self, inputs, signature_name=None):
        """Run a signature; returns ``{output name: np.ndarray}``."""
        request = build_grpc_request(inputs, self.model_name, signature_name, self.version)
        try:
            response = self._stub.Predict(request, timeout=self.timeout)
        except self._grpc.RpcError as error:
            raise ServingError(error.details(), status=error.code().name) from None
        return parse_grpc_response(response)

    def predict_encoded(self, encoded_images):
        """PNG/JPEG bytes -> list of int32 class maps, each at its image's size."""
        return crop_encoded_classes(self.predict(encoded_images, sig.PREDICT_ENCODED))

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
