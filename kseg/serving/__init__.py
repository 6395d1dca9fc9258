"""Clients for models exported by ``kseg.export`` and served by TF Serving.

REST (standard library only): ``build_rest_request``, ``parse_rest_response``,
``RestClient``; ``decode_rest_request`` / ``encode_rest_response`` replay the
server's JSON handling locally. gRPC (needs ``tensorflow-serving-api`` and
``grpcio``): ``build_grpc_request``, ``parse_grpc_response``, ``GrpcClient``.
Signature and tensor names live in ``kseg.serving.signatures``.
"""

from kseg.serving import signatures
from kseg.serving._inputs import crop_encoded_classes
from kseg.serving.errors import ServingError
from kseg.serving.grpc_client import GrpcClient, build_grpc_request, parse_grpc_response
from kseg.serving.rest import (
    RestClient,
    build_rest_request,
    decode_rest_request,
    encode_rest_response,
    parse_rest_response,
)

__all__ = [
    "GrpcClient",
    "RestClient",
    "ServingError",
    "build_grpc_request",
    "build_rest_request",
    "crop_encoded_classes",
    "decode_rest_request",
    "encode_rest_response",
    "parse_grpc_response",
    "parse_rest_response",
    "signatures",
]
