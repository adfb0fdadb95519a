"""Gateway layer: run the gateway on uvicorn, with worker processes.

uvicorn starts ``workers`` processes that share the listening socket; each builds its own app
from the configuration in :data:`~polly_pipeline.gateway.config.CONFIG_VARIABLE`
(:func:`app_from_environment`), with its own backend and connection pool.
"""

from __future__ import annotations

import copy
import gc
import os
from typing import Any

from starlette.applications import Starlette

from polly_pipeline.gateway.app import create_app
from polly_pipeline.gateway.config import CONFIG_VARIABLE, GatewayConfig

__all__ = ["WS_MAX_SIZE", "WS_OPTIONS", "app_from_environment", "serve"]

#: The largest WebSocket frame the server reads: above the app's message limit, so an
#: oversized message gets a typed error from the app instead of a dropped connection.
WS_MAX_SIZE = 1 << 20
#: uvicorn's WebSocket options for the gateway. No permessage-deflate: clients (``websockets``,
#: browsers) offer it by default, and compressing every audio frame for every listener was the
#: largest single cost of a worker in the 200-conversation rush (zlib, about 30% of its CPU,
#: benchmarks/results/gateway.md), for audio that barely shrinks.
WS_OPTIONS: dict[str, Any] = {
    "ws": "websockets-sansio",
    "ws_max_size": WS_MAX_SIZE,
    "ws_per_message_deflate": False,
}


def app_from_environment() -> Starlette:
    """The app of one worker process (uvicorn's factory).

    Once the worker has started (its modules imported, its backend open), what it holds is
    moved out of the garbage collector's reach (:func:`gc.freeze`): a worker's full
    collections then scan its conversations' objects only, not the tens of thousands it
    keeps for its whole life. A full collection during a rush of conversations stops the
    worker's event loop for every conversation at once (benchmarks/results/gateway.md).
    """
    return create_app(GatewayConfig.from_environment(), on_started=gc.freeze)


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging set-up, plus the gateway's logs: the access log as JSON lines on
    standard output, the rest on standard error (applied in every worker process)."""
    from uvicorn.config import LOGGING_CONFIG  # noqa: PLC0415

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["json_lines"] = {"format": "%(message)s"}
    config["handlers"]["gateway_access"] = {
        "formatter": "json_lines",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["polly_pipeline"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    config["loggers"]["polly_pipeline.gateway.access"] = {
        "handlers": ["gateway_access"],
        "level": "INFO",
        "propagate": False,
    }
    return config


def serve(config: GatewayConfig, *, log_level: str = "info") -> None:
    """Serve until SIGINT or SIGTERM (blocks).

    Raises:
        ConfigurationError: a non-loopback host without a token, or a bad token file.
    """
    import uvicorn  # noqa: PLC0415  (the [serve] extra; checked by the CLI first)

    config.check_exposure()  # fail here, once, before any worker starts
    os.environ[CONFIG_VARIABLE] = config.to_json()
    uvicorn.run(
        "polly_pipeline.gateway.server:app_from_environment",
        factory=True,
        host=config.host,
        port=config.port,
        workers=config.workers,
        **WS_OPTIONS,
        access_log=False,  # the gateway's own log: structured, no query strings
        log_level=log_level,
        log_config=log_config(log_level),
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
