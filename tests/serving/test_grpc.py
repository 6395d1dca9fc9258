import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from fake_server import start_grpc_server
from kseg.serving import GrpcClient, ServingError, build_grpc_request, parse_grpc_response


def test_build_grpc_request():
    images = np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3)
    request = build_grpc_request(images, "pets", version=4)
    assert request.model_spec.name == "pets" and request.model_spec.version.value == 4
    assert request.model_spec.signature_name == "serving_default"
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["images"]), images)
    request = build_grpc_request([b"a", b"bc"], "pets")
    assert request.model_spec.signature_name == "predict_encoded" and not request.model_spec.HasField("version")
    assert tf.make_ndarray(request.inputs["image_bytes"]).tolist() == [b"a", b"bc"]
    with pytest.raises(ValueError, match="model_name"):
        build_grpc_request(images, "")


def test_parse_grpc_response():
    response = predict_pb2.PredictResponse()
    response.outputs["classes"].CopyFrom(tf.make_tensor_proto(np.array([[1, 2]], np.int64)))
    response.outputs["probabilities"].CopyFrom(tf.make_tensor_proto(np.array([0.5], np.float64)))
    out = parse_grpc_response(response)
    assert out["classes"].dtype == np.int32 and out["classes"].tolist() == [[1, 2]]
    assert out["probabilities"].dtype == np.float32


def test_grpc_client_end_to_end(served):
    model, loaded = served
    server, port = start_grpc_server("toy", loaded)
    try:
        images = np.random.default_rng(5).integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
        expected = model(images.astype(np.float32), training=False).numpy().argmax(-1)
        with GrpcClient("127.0.0.1", port, "toy") as client:
            np.testing.assert_array_equal(client.predict(images)["classes"], expected)
            maps = client.predict_encoded(tf.io.encode_png(images[0]).numpy())
            np.testing.assert_array_equal(maps[0], expected[0])
            with pytest.raises(ServingError, match="PNG or JPEG") as info:
                client.predict_encoded([b"junk"])
            assert info.value.status == "INVALID_ARGUMENT"
        with GrpcClient("127.0.0.1", port, "nope") as client, pytest.raises(ServingError) as info:
            client.predict(images)
        assert info.value.status == "NOT_FOUND"
    finally:
        server.stop(0)
