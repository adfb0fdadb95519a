"""Gateway layer: the ASGI application (Starlette) and its routes.

``create_app(config)`` opens the speech backend the way the CLI does (Amazon Polly with AWS
credentials, else the embedded local service) when the server starts the app, and closes it
when the server stops; ``create_app(config, polly=client)`` serves with a client the caller
owns. Each worker process of a server has its own app, backend and connection pool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from polly_pipeline.backends import open_backends
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.gateway.access_log import AccessLog
from polly_pipeline.gateway.auth import TokenAuth
from polly_pipeline.gateway.config import GatewayConfig
from polly_pipeline.gateway.conversation import SUBPROTOCOL, Conversation, ConversationStats
from polly_pipeline.gateway.openai_speech import models, speech

__all__ = ["create_app"]

#: Where the browser plugin keeps its page, when it is installed.
_PAGE_PACKAGE = "polly_pipeline_browser"


async def _health(request: Request) -> Response:
    state = request.app.state
    return JSONResponse(
        {
            "status": "ok",
            "backend": state.backend,
            "pid": os.getpid(),
            "conversations": state.conversations,
        }
    )


async def _speak(websocket: WebSocket) -> None:
    state = websocket.app.state
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    state.conversations += 1
    access = websocket.scope.get("state", {}).get("access")

    def ended(stats: ConversationStats) -> None:
        state.conversations -= 1
        if access is not None:
            access["conversation"] = dataclasses.asdict(stats)

    await Conversation(websocket, state.polly, state.config.limits, on_end=ended).run()


def _page_file(name: str) -> Any:
    try:
        return resources.files(_PAGE_PACKAGE) / "static" / name
    except ModuleNotFoundError:
        return None


async def _page(request: Request) -> Response:
    name = request.path_params.get("name")
    if name is None:  # the page, in its gateway mode (it then speaks on /v1/speak)
        query = request.url.query
        return RedirectResponse("/index.html?gateway=1" + ("&" + query if query else ""))
    page = _page_file(name) if name in ("index.html", "player.js") else None
    if page is None or not page.is_file():
        return JSONResponse(
            {
                "error": {
                    "message": "the browser page comes with the polly-pipeline-browser plugin: "
                    "pip install -e plugins/polly-pipeline-browser",
                    "type": "not_found",
                }
            },
            status_code=404,
        )
    with resources.as_file(page) as path:
        return FileResponse(path)


def create_app(
    config: GatewayConfig | None = None,
    *,
    polly: PollyStreamingClient | None = None,
    on_started: Callable[[], object] | None = None,
) -> Starlette:
    """The gateway as an ASGI application.

    Args:
        config: limits, token and backend (default: loopback, no token, automatic backend).
        polly: serve with this client (the caller closes it); None opens the backend the
            configuration chooses when the server starts the app.
        on_started: called once the app has started (its backend open), before it serves.

    Raises:
        ConfigurationError: a non-loopback host without a token, or an unreadable token file.
    """
    config = config or GatewayConfig()
    token = config.check_exposure()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.config = config
        app.state.conversations = 0
        async with contextlib.AsyncExitStack() as stack:
            if polly is not None:
                app.state.polly, app.state.backend = polly, "given"
            else:
                backends = await stack.enter_async_context(open_backends(config.polly))
                app.state.polly = backends.polly
                app.state.backend = "local" if backends.local_polly else "aws"
            if on_started is not None:
                on_started()
            yield

    return Starlette(
        routes=[
            Route("/health", _health),
            Route("/v1/models", models),
            Route("/v1/audio/speech", speech, methods=["POST"]),
            WebSocketRoute("/v1/speak", _speak),
            Route("/", _page),
            Route("/{name:str}", _page),
        ],
        middleware=[
            Middleware(AccessLog),
            Middleware(TokenAuth, token=token, allowed_origins=config.allowed_origins),
        ],
        lifespan=lifespan,
    )
