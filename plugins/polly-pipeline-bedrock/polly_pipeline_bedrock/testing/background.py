"""Testing layer: run the local Bedrock server on its own thread and event loop.

For code that is not async itself (pytest fixtures, scripts, the blocking botocore client):
clients in any thread or loop reach it over loopback, as they would reach Amazon Bedrock.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Any

from polly_pipeline_bedrock.testing.server import LocalBedrock

__all__ = ["BackgroundBedrock"]

_START_TIMEOUT = 30.0


class BackgroundBedrock:
    """``with BackgroundBedrock(...) as bedrock:``: a started :class:`LocalBedrock` on a thread.

    The arguments are :class:`LocalBedrock`'s.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.server = LocalBedrock(*args, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> LocalBedrock:
        """Start the thread and wait until the server listens."""
        self._thread = threading.Thread(target=self._run, name="bedrock-local", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise TimeoutError("the local Bedrock server did not start within 30 seconds")
        if self._error is not None:
            raise self._error
        return self.server

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            await self.server.aclose()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.aclose()

    def stop(self) -> None:
        """Stop the server and join the thread. Idempotent."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(_START_TIMEOUT)
            self._thread = None

    def __enter__(self) -> LocalBedrock:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
