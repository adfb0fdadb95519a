"""Gateway layer: serve an app from inside a running event loop (tests, embedding programs).

::

    async with serving(create_app(polly=client)) as server:
        print(server.url)  # http://127.0.0.1:PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette

__all__ = ["Serving", "serving"]


@dataclass(frozen=True)
class Serving:
    """A gateway served in this process.

    Attributes:
        host: the address it listens on.
        port: the port it listens on.
        app: the app served.
    """

    host: str
    port: int
    app: Starlette

    @property
    def url(self) -> str:
        """The base URL (``http://host:port``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def speak_url(self) -> str:
        """The conversation WebSocket's URL."""
        return f"ws://{self.host}:{self.port}/v1/speak"


@contextlib.asynccontextmanager
async def serving(
    app: Starlette, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 10.0
) -> AsyncIterator[Serving]:
    """Serve ``app`` with uvicorn on this event loop until the block ends (port 0: a free one).

    Leaving the block stops the server and waits for its connections to close (while it
    runs, uvicorn turns SIGINT and SIGTERM into that stop, then re-raises them).
    """
    import uvicorn  # noqa: PLC0415  (the [serve] extra)

    from polly_pipeline.gateway.server import WS_OPTIONS  # noqa: PLC0415

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, **WS_OPTIONS, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="embedded-uvicorn")
    try:
        async with asyncio.timeout(startup_timeout):
            while not server.started:
                if task.done():
                    task.result()  # the server failed to start: raise why
                await asyncio.sleep(0.01)
        yield Serving(host, sock.getsockname()[1], app)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            async with asyncio.timeout(15):
                await task
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        sock.close()
