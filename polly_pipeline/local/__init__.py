"""Local service layer: the embedded Polly service (HTTP/2 + HTTP/1.1 over TLS, offline voice).

The supported face of this layer, for applications, tests and plugin authors:

- the local Polly service: :class:`LocalPollyService` (async) and :class:`BackgroundService`
  (on its own thread), configured by :class:`LocalServiceConfig`;
- building a local stand-in for another service: :class:`HttpServer` (HTTP/2 + HTTP/1.1 over
  TLS) serving a :data:`Handler` (:class:`Request`, :class:`RequestBody`, :class:`Responder`),
  :class:`TLSMaterial` for its certificates, and :class:`BackgroundServer` to run any such
  server on its own thread.

Everything else under ``polly_pipeline.local`` is internal and may change.
"""

from polly_pipeline.local.background import BackgroundServer, BackgroundService
from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.config import (
    DemoLLMConfig,
    Fault,
    FaultPlan,
    LatencyModel,
    LocalServiceConfig,
)
from polly_pipeline.local.http import (
    BodyTooLarge,
    Handler,
    HttpServer,
    Request,
    RequestBody,
    Responder,
    StreamClosed,
)
from polly_pipeline.local.service import LocalPollyService

__all__ = [
    "BackgroundServer",
    "BackgroundService",
    "BodyTooLarge",
    "DemoLLMConfig",
    "Fault",
    "FaultPlan",
    "Handler",
    "HttpServer",
    "LatencyModel",
    "LocalPollyService",
    "LocalServiceConfig",
    "Request",
    "RequestBody",
    "Responder",
    "StreamClosed",
    "TLSMaterial",
]
