"""TF Serving REST API: request bodies, responses, and a small urllib client.

The JSON follows TF Serving's predict API
(``POST /v1/models/<name>[/versions/<v>]:predict``): row format
``{"signature_name": ..., "instances": [...]}`` answered by
``{"predictions": [...]}``, or columnar ``{"inputs": ...}`` answered by
``{"outputs": ...}``; binary strings travel as ``{"b64": "<base64>"}``.
"""

import base64
import json
import urllib.error
import urllib.request

import numpy as np

from kseg._checks import check_int
from kseg.serving import signatures as sig
from kseg.serving._inputs import crop_encoded_classes, normalize_inputs, restore_dtypes
from kseg.serving.errors import ServingError


def build_rest_request(inputs, signature_name=None):
    """JSON body (a dict; ``json.dumps`` it) for the REST predict API.

    Args:
        inputs: uint8 images ``[N, H, W, C]`` / ``[H, W, C]`` for
            ``serving_default``, or PNG/JPEG ``bytes`` (one or a list) for
            ``predict_encoded``.
        signature_name: defaults to the signature that takes ``inputs``.

    Returns:
        ``{"signature_name": str, "instances": [...]}``: one instance per
        image, nested lists of ints or ``{"b64": str}``.
    """
    signature_name, _, value = normalize_inputs(inputs, signature_name)
    if isinstance(value, list):
        instances = [{"b64": base64.b64encode(item).decode("ascii")} for item in value]
    else:
        instances = value.tolist()
    return {"signature_name": signature_name, "instances": instances}


def _stack(values, name):
    try:
        return np.asarray(values)
    except ValueError as error:
        raise ValueError(f"{name}: values of different shapes cannot form one tensor ({error}).") from None


def parse_rest_response(body, output_name=sig.CLASSES):
    """Decode a REST predict response into NumPy arrays.

    Args:
        body: the response as ``str``, ``bytes`` or an already-parsed dict.
        output_name: name given to the output when the server answers with a
            single unnamed output (a signature with one output).

    Returns:
        dict ``{output name: np.ndarray}`` with kseg's output dtypes
        (``classes`` int32, ``probabilities`` float32, ...).

    Raises:
        ServingError: the body carries ``{"error": ...}``.
        ValueError: the body is not a predict response.
    """
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as error:
            raise ValueError(f"body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise ValueError(f"body must be a JSON object, got {type(body).__name__}.")
    if "error" in body:
        raise ServingError(str(body["error"]))
    if "predictions" in body:
        rows = body["predictions"]
        if not isinstance(rows, list):
            raise ValueError("'predictions' must be a list with one entry per instance.")
        if rows and all(isinstance(row, dict) for row in rows):
            outputs = {key: _stack([row[key] for row in rows], key) for key in rows[0]}
        else:
            outputs = {output_name: _stack(rows, output_name)}
    elif "outputs" in body:
        columns = body["outputs"]
        if isinstance(columns, dict):
            outputs = {key: _stack(value, key) for key, value in columns.items()}
        else:
            outputs = {output_name: _stack(columns, output_name)}
    else:
        raise ValueError(f"body has neither 'predictions' nor 'outputs' (keys: {sorted(body)}).")
    return restore_dtypes(outputs)


def _decode_value(value):
    # TF Serving turns every {"b64": ...} object into the bytes it encodes.
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise ValueError(f"a JSON object inside a tensor must be {{'b64': ...}}, got keys {sorted(value)}.")
        return base64.b64decode(value["b64"], validate=True)
    if isinstance(value, list):
        return [_decode_value(item) for item in value]
    return value


def _to_tensor_value(value, dtype, name):
    value = _decode_value(value)
    if dtype in (object, "string", bytes, np.bytes_):
        array = np.asarray(value, dtype=object)
    else:
        array = _stack(value, name)
        if array.dtype == object:
            raise ValueError(f"{name}: instances have different shapes.")
        # TF Serving rejects numbers that do not fit the input's dtype.
        cast = array.astype(dtype)
        if not np.array_equal(cast, array):
            raise ValueError(f"{name}: values do not fit dtype {np.dtype(dtype).name}.")
        array = cast
    return array


def decode_rest_request(body, input_dtypes):
    """Turn a REST predict body into input tensors, the way TF Serving does.

    Lets a test (or a local dry run) feed a loaded SavedModel signature
    exactly what TF Serving would feed it, without the server.

    Args:
        body: JSON ``str``/``bytes``/dict with ``instances`` (row format:
            a list of per-example values, or of ``{input name: value}``
            dicts) or ``inputs`` (columnar).
        input_dtypes: ``{input name: numpy dtype or "string"}`` of the
            signature's inputs.

    Returns:
        ``(signature_name, {input name: np.ndarray})``; string inputs are
        object arrays of ``bytes``.
    """
    if isinstance(body, (bytes, bytearray, str)):
        body = json.loads(body)
    signature_name = body.get("signature_name", sig.SERVING_DEFAULT)
    names = list(input_dtypes)
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise ValueError("'instances' must be a non-empty list.")
        if all(isinstance(item, dict) and "b64" not in item for item in instances):
            columns = {name: [item[name] for item in instances] for name in instances[0]}
        elif len(names) == 1:
            columns = {names[0]: instances}
        else:
            raise ValueError(f"the signature has inputs {names}: each instance must be a dict naming them.")
    elif "inputs" in body:
        inputs = body["inputs"]
        is_named = isinstance(inputs, dict) and "b64" not in inputs
        columns = inputs if is_named else {names[0]: inputs}
    else:
        raise ValueError("body has neither 'instances' nor 'inputs'.")
    unknown = set(columns) - set(names)
    if unknown:
        raise ValueError(f"unknown inputs {sorted(unknown)}; the signature takes {names}.")
    return signature_name, {
        name: _to_tensor_value(value, input_dtypes[name], name) for name, value in columns.items()
    }


def _encode_output(name, array):
    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind == "S":
        flat = [
            {"b64": base64.b64encode(v).decode("ascii")} if name.endswith("_bytes") else v.decode("utf-8")
            for v in array.reshape(-1)
        ]
        return np.asarray(flat, dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def encode_rest_response(outputs, row_format=True):
    """The JSON dict TF Serving answers for signature ``outputs``.

    Args:
        outputs: ``{output name: array with batch dimension first}``.
        row_format: ``True`` answers an ``instances`` request
            (``{"predictions": [...]}``), ``False`` an ``inputs`` request.
    """
    encoded = {name: _encode_output(name, value) for name, value in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(encoded.values())) if len(encoded) == 1 else encoded}
    if len(encoded) == 1:
        return {"predictions": next(iter(encoded.values()))}
    batch = len(next(iter(encoded.values())))
    return {"predictions": [{name: value[i] for name, value in encoded.items()} for i in range(batch)]}


class RestClient:
    """Client for a TF Serving REST endpoint (standard library only).

    Example::

        client = RestClient("localhost", 8501, "pets")
        classes = client.predict(images)["classes"]          # uint8 [N,H,W,3]
        maps = client.predict_encoded([open("cat.jpg", "rb").read()])
    """

    def __init__(self, host="localhost", port=8501, model_name=None, version=None, *, timeout=30.0, scheme="http"):
        if not model_name or not isinstance(model_name, str):
            raise ValueError(f"model_name must be a non-empty string, got {model_name!r}.")
        version = check_int(version, "version", minimum=0, allow_none=True)
        port = check_int(port, "port", maximum=65535)
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}.")
        self.host, self.port, self.model_name, self.version = host, port, model_name, version
        self.timeout, self.scheme = timeout, scheme

    @property
    def model_url(self):
        url = f"{self.scheme}://{self.host}:{self.port}/v1/models/{self.model_name}"
        return url if self.version is None else f"{url}/versions/{self.version}"

    def _call(self, url, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}, method="GET" if data is None else "POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            try:
                text = json.loads(text).get("error", text)
            except (json.JSONDecodeError, AttributeError):
                pass
            raise ServingError(text, status=error.code) from None
        except urllib.error.URLError as error:
            raise ServingError(f"cannot reach {url}: {error.reason}") from None

    def predict(self, inputs, signature_name=None):
        """Run a signature; returns ``{output name: np.ndarray}``."""
        body = build_rest_request(inputs, signature_name)
        return parse_rest_response(self._call(f"{self.model_url}:predict", body))

    def predict_encoded(self, encoded_images):
        """PNG/JPEG bytes -> list of int32 class maps, each at its image's size."""
        return crop_encoded_classes(self.predict(encoded_images, sig.PREDICT_ENCODED))

    def status(self):
        """The server's model status JSON (``GET /v1/models/<name>``)."""
        return json.loads(self._call(self.model_url))

    def metadata(self):
        """The signatures the server reports (``GET .../metadata``)."""
        return json.loads(self._call(f"{self.model_url}/metadata"))
