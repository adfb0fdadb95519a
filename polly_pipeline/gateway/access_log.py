"""Gateway layer: a structured access log (one JSON object per request or conversation).

Logged on ``polly_pipeline.gateway.access`` at INFO: time, client address, method, path
(without its query string), status, bytes sent, duration, the worker's process id and, for
conversations, what they did. Headers are never logged, so no token reaches the log.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog"]

log = logging.getLogger("polly_pipeline.gateway.access")


class AccessLog:
    """ASGI middleware that logs each request when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        record: dict[str, Any] = {"status": None, "bytes": 0}
        scope.setdefault("state", {})["access"] = record

        async def watch(message: Message) -> None:
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                record["status"] = message["status"]
            elif kind == "websocket.accept":
                record["status"] = 101
            elif kind == "websocket.close" and record["status"] is None:
                record["status"] = 403
            elif kind in ("http.response.body", "websocket.http.response.body"):
                record["bytes"] += len(message.get("body", b""))
            elif kind == "websocket.send":
                record["bytes"] += len(message.get("bytes") or b"") + len(
                    (message.get("text") or "").encode()
                )
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except BaseException:
            record["status"] = record["status"] or 500
            raise
        finally:
            client = scope.get("client")
            entry = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "pid": os.getpid(),
                "client": f"{client[0]}:{client[1]}" if client else None,
                "method": scope.get("method", "WEBSOCKET"),
                "path": scope["path"],
                **record,
                "ms": round((time.monotonic() - started) * 1000, 1),
            }
            log.info("%s", json.dumps(entry, default=str))
