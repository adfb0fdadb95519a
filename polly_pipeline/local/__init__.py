"""Local service layer: the embedded Polly service (HTTP/2 + HTTP/1.1 over TLS, offline voice).

The supported face of this layer, for applications, tests and plugin authors:

- the local Polly service: :class:`LocalPollyService` (async) and :class:`BackgroundService`
  (on its own thread), configured by :class:`LocalServiceConfig`;
- building a local stand-in for another service: :class:`HttpServer` (HTTP/2 + HTTP/1.1 over
  TLS) serving a :data:`Handler` (:class:`Request`, :class:`RequestBody`, :class:`Responder`),
  :class:`TLSMaterial` for its certificates, and :class:`BackgroundServer` to run any such
  server on its own thread;
- inspecting what the service did: :class:`StreamRecord` (one per synthesis stream, in
  ``LocalPollyService.streams``), and :data:`DEMO_MODEL`, the model id of the offline demo LLM
  the service serves beside Polly (OpenAI's chat API).

Replaying the demo LLM's answers without a server is a test helper:
:mod:`polly_pipeline.testing` (``REFERENCE_ANSWER``, ``canned_answer``, ``split_tokens``).

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
from polly_pipeline.local.demo_llm import DEMO_MODEL
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
from polly_pipeline.local.stream_record import StreamRecord

__all__ = [
    "DEMO_MODEL",
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
    "StreamRecord",
    "TLSMaterial",
]
