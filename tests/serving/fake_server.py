"""In-process stand-ins for TF Serving's REST and gRPC front ends.

They run a loaded SavedModel's signatures after decoding requests the way
TF Serving does, so the clients are tested over real HTTP / gRPC.
"""

import json
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf

from kseg.serving import decode_rest_request, encode_rest_response


def input_dtypes(signature):
    _, kwargs = signature.structured_input_signature
    return {name: (object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype) for name, spec in kwargs.items()}


def run_signature(loaded, name, inputs):
    fn = loaded.signatures[name]
    return {key: value.numpy() for key, value in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}


class RestServer:
    def __init__(self, model_name, loaded):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == f"/v1/models/{model_name}":
                    self._reply(200, {"model_version_status": [{"version": "1", "state": "AVAILABLE"}]})
                else:
                    self._reply(404, {"error": f"Servable not found for request: {self.path}"})

            def do_POST(self):
                outer.paths.append(self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self.path.startswith(f"/v1/models/{model_name}"):
                    return self._reply(404, {"error": "Servable not found"})
                try:
                    signature = body.get("signature_name", "serving_default")
                    _, inputs = decode_rest_request(body, input_dtypes(loaded.signatures[signature]))
                    outputs = run_signature(loaded, signature, inputs)
                except tf.errors.InvalidArgumentError as error:
                    return self._reply(400, {"error": error.message})
                self._reply(200, encode_rest_response(outputs, row_format="instances" in body))

        self.paths = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def start_grpc_server(model_name, loaded):
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            if request.model_spec.name != model_name:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found: {request.model_spec.name}")
            inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
            try:
                outputs = run_signature(loaded, request.model_spec.signature_name or "serving_default", inputs)
            except tf.errors.InvalidArgumentError as error:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
            response = predict_pb2.PredictResponse()
            for name, value in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port
