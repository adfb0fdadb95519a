"""Browser sink plugin: the HTTP side of the sink's server (the page, its script, the checks).

The page and its script are package data, served from the same port as the WebSocket by
websockets' ``process_request`` hook. The WebSocket (``/stream``) accepts only the page's own
origin when the server is bound to loopback, so another web site open in the same browser
cannot listen in.
"""

from __future__ import annotations

import http
from functools import cache
from importlib import resources

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

__all__ = ["STREAM_PATH", "asset", "page_request"]

#: Where the page opens its WebSocket.
STREAM_PATH = "/stream"

_ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/player.js": ("player.js", "text/javascript; charset=utf-8"),
}
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


@cache
def asset(name: str) -> bytes:
    """One of the page's files, from the package data."""
    return resources.files("polly_pipeline_browser").joinpath("static", name).read_bytes()


def _response(status: http.HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers()
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(body))
    headers["Cache-Control"] = "no-store"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Connection"] = "close"
    return Response(status.value, status.phrase, headers, body)


def _allowed_origin(origin: str | None, port: int, loopback_only: bool) -> bool:
    if origin is None:
        return True  # not a browser: any local program could connect to the port anyway
    if not loopback_only:
        return origin.startswith(("http://", "https://")) and origin.endswith(f":{port}")
    return origin in {f"http://{name}:{port}" for name in _LOOPBACK_NAMES}


def page_request(
    connection: ServerConnection, request: Request, *, port: int, loopback_only: bool
) -> Response | None:
    """Answer plain HTTP requests (the page); None lets a WebSocket handshake go on."""
    path = request.path.split("?", 1)[0]
    if path == STREAM_PATH:
        if not _allowed_origin(request.headers.get("Origin"), port, loopback_only):
            return _response(
                http.HTTPStatus.FORBIDDEN, b"this stream is for its own page only\n", "text/plain"
            )
        return None
    found = _ASSETS.get(path)
    if found is None:
        return _response(http.HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
    name, content_type = found
    return _response(http.HTTPStatus.OK, asset(name), content_type)
