"""Local service layer: the former home of the HTTP server, kept so older imports still work.

Import from :mod:`polly_pipeline.local.http` (or :mod:`polly_pipeline.local`) instead.
"""

from polly_pipeline.local.http import (
    BodyTooLarge,
    ConnectionControl,
    Handler,
    HttpServer,
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
