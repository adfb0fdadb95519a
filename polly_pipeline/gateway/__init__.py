"""Gateway layer: polly-pipeline as a service any client can stream text into and audio out of.

An entry-point layer beside ``cli`` (it uses ``backends``, ``session``, ``pipeline``, ``text``
and ``audio``; nothing below imports it). Needs the ``[serve]`` extra (uvicorn, Starlette,
websockets).

- ``/v1/speak``: a WebSocket conversation, text in as the model writes, audio out as it is
  made, one warm :class:`~polly_pipeline.session.SpeechSession` per connection
  (:mod:`~polly_pipeline.gateway.messages` documents the protocol).
- ``POST /v1/audio/speech`` and ``GET /v1/models``: OpenAI-compatible speech.
- ``GET /health``.

::

    from polly_pipeline.gateway import GatewayConfig, create_app

    app = create_app(GatewayConfig())  # any ASGI server: uvicorn module:app --workers 2

``polly-pipeline serve`` runs it on uvicorn with worker processes.
"""

from polly_pipeline.gateway.app import create_app
from polly_pipeline.gateway.config import GatewayConfig, Limits

__all__ = ["GatewayConfig", "Limits", "create_app"]
