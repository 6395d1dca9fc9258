import base64
import json

import numpy as np
import pytest
import tensorflow as tf

from fake_server import RestServer, input_dtypes, run_signature
from kseg.serving import (
    RestClient,
    ServingError,
    build_rest_request,
    decode_rest_request,
    encode_rest_response,
    parse_rest_response,
)


def test_build_rest_request_images_and_bytes():
    images = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(1, 2, 2, 3)
    body = build_rest_request(images)
    assert body == {"signature_name": "serving_default", "instances": images.tolist()}
    body = build_rest_request(images[0])  # one image gets a batch dimension
    assert np.asarray(body["instances"]).shape == (1, 2, 2, 3)
    body = build_rest_request([b"\x89PNG-a", b"jpeg-b"])
    assert body["signature_name"] == "predict_encoded"
    assert body["instances"] == [{"b64": base64.b64encode(b"\x89PNG-a").decode()}, {"b64": "anBlZy1i"}]
    json.dumps(body)


@pytest.mark.parametrize(
    "inputs, kwargs, message",
    [
        (np.zeros((1, 2, 2, 3), np.float32), {}, "must be uint8"),
        (np.zeros((2, 3), np.uint8), {}, "shape"),
        ([b""], {}, "empty byte strings"),
        (np.zeros((1, 2, 2, 3), np.uint8), {"signature_name": "predict_encoded"}, "takes 'image_bytes'"),
    ],
)
def test_build_rest_request_rejects(inputs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_rest_request(inputs, **kwargs)


def test_parse_rest_response_formats():
    row = {"predictions": [{"classes": [[0, 1]], "probabilities": [[[0.25, 0.75], [0.5, 0.5]]]}] * 2}
    out = parse_rest_response(json.dumps(row))
    assert out["classes"].dtype == np.int32 and out["classes"].shape == (2, 1, 2)
    assert out["probabilities"].dtype == np.float32 and out["probabilities"][0, 0, 1, 0] == 0.5
    assert parse_rest_response({"predictions": [[[1, 2]]]})["classes"].tolist() == [[[1, 2]]]
    assert parse_rest_response(b'{"outputs": {"heights": [3], "x": [1.5]}}')["heights"].dtype == np.int32
    with pytest.raises(ServingError, match="bad image"):
        parse_rest_response({"error": "bad image"})
    with pytest.raises(ValueError, match="neither"):
        parse_rest_response({"foo": 1})


def test_decode_rest_request_like_tf_serving():
    dtypes = {"image_bytes": object}
    name, inputs = decode_rest_request({"signature_name": "predict_encoded", "instances": [{"b64": "YWJj"}]}, dtypes)
    assert name == "predict_encoded" and inputs["image_bytes"].tolist() == [b"abc"]
    _, inputs = decode_rest_request({"instances": [{"images": [[[1, 2, 3]]]}]}, {"images": np.uint8})
    assert inputs["images"].dtype == np.uint8 and inputs["images"].shape == (1, 1, 1, 3)
    _, inputs = decode_rest_request({"inputs": {"images": [[[[4, 5, 6]]]]}}, {"images": np.uint8})
    assert inputs["images"].tolist() == [[[[4, 5, 6]]]]
    with pytest.raises(ValueError, match="do not fit"):
        decode_rest_request({"instances": [[[[300, 0, 0]]]]}, {"images": np.uint8})
    with pytest.raises(ValueError, match="different shapes"):
        decode_rest_request({"instances": [[[[1, 2, 3]]], [[[1, 2, 3], [4, 5, 6]]]]}, {"images": np.uint8})


def test_encode_rest_response_round_trip():
    outputs = {"classes": np.array([[[1]], [[2]]], np.int32), "heights": np.array([1, 1], np.int32)}
    body = encode_rest_response(outputs)
    assert body == {"predictions": [{"classes": [[1]], "heights": 1}, {"classes": [[2]], "heights": 1}]}
    np.testing.assert_array_equal(parse_rest_response(body)["classes"], outputs["classes"])
    assert encode_rest_response({"classes": np.array([[1]])}, row_format=False) == {"outputs": [[1]]}


def test_rest_b64_body_through_savedmodel_matches_keras(served):
    model, loaded = served
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)]
    body = json.dumps(build_rest_request([tf.io.encode_png(image).numpy() for image in images]))
    signature, inputs = decode_rest_request(body, input_dtypes(loaded.signatures["predict_encoded"]))
    response = json.loads(json.dumps(encode_rest_response(run_signature(loaded, signature, inputs))))
    from kseg.serving import crop_encoded_classes

    maps = crop_encoded_classes(parse_rest_response(response))
    for image, classes in zip(images, maps):
        expected = model(image[None].astype(np.float32), training=False).numpy().argmax(-1)[0]
        np.testing.assert_array_equal(classes, expected)


def test_rest_client_over_http(served):
    model, loaded = served
    images = np.random.default_rng(4).integers(0, 256, (2, 16, 24, 3), dtype=np.uint8)
    expected = model(images.astype(np.float32), training=False).numpy().argmax(-1)
    with RestServer("toy", loaded) as server:
        client = RestClient("127.0.0.1", server.port, "toy")
        out = client.predict(images)
        np.testing.assert_array_equal(out["classes"], expected)
        assert out["probabilities"].shape == (2, 16, 24, 3)
        maps = client.predict_encoded([tf.io.encode_png(image).numpy() for image in images])
        np.testing.assert_array_equal(np.stack(maps), expected)
        assert client.status()["model_version_status"][0]["state"] == "AVAILABLE"
        with pytest.raises(ServingError, match="PNG or JPEG") as info:
            client.predict_encoded([b"not an image"])
        assert info.value.status == 400
        pinned = RestClient("127.0.0.1", server.port, "toy", version=3)
        pinned.predict(images[:1])
        assert server.paths[-1] == "/v1/models/toy/versions/3:predict"
        with pytest.raises(ServingError, match="not found") as info:
            RestClient("127.0.0.1", server.port, "other").status()
        assert info.value.status == 404


def test_rest_client_arguments_and_unreachable():
    with pytest.raises(ValueError, match="model_name"):
        RestClient("localhost", 8501, "")
    with pytest.raises(ValueError, match="port"):
        RestClient("localhost", 0, "m")
    with pytest.raises(ServingError, match="cannot reach"):
        RestClient("127.0.0.1", 9, "m", timeout=2).status()
