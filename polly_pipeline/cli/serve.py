"""CLI layer: ``polly-pipeline serve``: the streaming speech gateway on uvicorn."""

from __future__ import annotations

import argparse
import importlib.util

from polly_pipeline.cli.options import add_backend_options, check_listen_address, polly_options
from polly_pipeline.errors import ConfigurationError

__all__ = ["add_serve"]

_EXTRA = "pip install 'polly-pipeline[serve]'"


def add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``serve``."""
    p = sub.add_parser(
        "serve",
        help="serve speech over WebSocket and an OpenAI-compatible HTTP API",
        description=(
            "Run the speech gateway: WebSocket text in, audio out (/v1/speak), OpenAI-compatible "
            "speech (POST /v1/audio/speech, GET /v1/models) and /health, on uvicorn with "
            "worker processes. Speech comes from Amazon Polly when AWS credentials are "
            "configured, else from the built-in local service (one per worker). Loopback by "
            "default; any other address needs a bearer token."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--token-file",
        default=None,
        help="file holding the bearer token clients must send (or set "
        "POLLY_PIPELINE_GATEWAY_TOKEN); required beyond loopback",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web origin (https://app.example) whose pages may open /v1/speak; repeatable",
    )
    add_backend_options(p)
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace, ctx: object = None) -> int:
    from polly_pipeline.gateway.config import GatewayConfig  # noqa: PLC0415

    for module in ("uvicorn", "starlette", "websockets"):
        if importlib.util.find_spec(module) is None:
            raise ConfigurationError(f"serve needs {module}: {_EXTRA}")
    from polly_pipeline.gateway.server import serve  # noqa: PLC0415

    check_listen_address(args.host, args.port)

    config = GatewayConfig(
        host=args.host,
        port=args.port,
        workers=args.workers,
        polly=polly_options(args),
        token_file=args.token_file,
        allowed_origins=tuple(args.allow_origin),
    )
    serve(config, log_level=(args.log_level or "info").lower())
    return 0
