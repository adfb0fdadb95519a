"""Gateway layer: bearer-token and origin checks, as ASGI middleware in front of every route.

With a token configured, every HTTP request and WebSocket handshake except ``GET /health``
must carry it: ``Authorization: Bearer <token>``, or, from a browser (which cannot set headers
on a WebSocket), the subprotocols ``polly-pipeline`` and ``bearer.<token>``. The comparison
takes constant time; the token is never logged or echoed.

A WebSocket handshake that a web page makes carries its ``Origin``; only the gateway's own
pages and the configured origins may open a conversation, so a web site the user visits
cannot speak through (or listen to) a gateway on their machine.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["TokenAuth", "offered_token"]

#: Paths any client may reach without the token.
OPEN_PATHS = frozenset({"/health"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def offered_token(scope: Scope) -> str | None:
    """The token a request carries (Authorization header, else a ``bearer.`` subprotocol)."""
    authorization = _header(scope, b"authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None
    if scope["type"] == "websocket":
        for protocol in scope.get("subprotocols", ()):
            if protocol.startswith("bearer."):
                return str(protocol[len("bearer.") :])
    return None


class TokenAuth:
    """Rejects requests without the token (401) and pages from foreign origins (403).

    Args:
        app: the application behind.
        token: the bearer token (None: no token needed, as on loopback).
        allowed_origins: web origins besides the gateway's own that may open WebSockets.
    """

    def __init__(
        self, app: ASGIApp, token: str | None, allowed_origins: Iterable[str] = ()
    ) -> None:
        self.app = app
        self._token = token.encode() if token else None
        self._origins = frozenset(o.rstrip("/") for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if self._token is not None:
            offered = offered_token(scope)
            if offered is None or not hmac.compare_digest(offered.encode(), self._token):
                why = "a bearer token is required" if offered is None else "the token is wrong"
                await _refuse(scope, send, 401, why)
                return
        if scope["type"] == "websocket" and not self._origin_allowed(scope):
            await _refuse(scope, send, 403, "this web page's origin may not use the gateway")
            return
        await self.app(scope, receive, send)

    def _origin_allowed(self, scope: Scope) -> bool:
        origin = _header(scope, b"origin")
        if origin is None:  # not a browser: programs send no Origin
            return True
        host = _header(scope, b"host")
        own = {f"http://{host}", f"https://{host}"} if host else set()
        return origin.rstrip("/") in own or origin.rstrip("/") in self._origins


async def _refuse(scope: Scope, send: Send, status: int, why: str) -> None:
    if scope["type"] == "websocket":
        # a handshake answered without accepting: the server replies with an HTTP error
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        body = json.dumps({"error": {"message": why, "type": "unauthorized"}}).encode()
        await send({"type": "websocket.http.response.body", "body": body})
        return
    body = json.dumps(
        {"error": {"message": why, "type": "invalid_request_error", "code": "unauthorized"}}
    ).encode()
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="polly-pipeline"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
