"""Local service layer: the HTTP/2 + HTTP/1.1 server over TLS the local services run on.

Supported for plugin authors (a local stand-in for another service: a handler, a server, a
certificate): serve with ``async with HttpServer(handler, tls=TLSMaterial.generate()) as
server:`` and point a client at ``server.url`` trusting ``tls.ca_cert_pem``.
"""

from polly_pipeline.local.http.server import HttpServer
from polly_pipeline.local.http.types import (
    BodyTooLarge,
    ConnectionControl,
    Handler,
    Request,
    RequestBody,
    Responder,
    StreamClosed,
)

__all__ = [
    "BodyTooLarge",
    "ConnectionControl",
    "Handler",
    "HttpServer",
    "Request",
    "RequestBody",
    "Responder",
    "StreamClosed",
]
