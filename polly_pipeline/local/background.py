"""Local service layer: run the local Polly service on a background thread.

For code that is not async itself (pytest fixtures, notebooks, scripts using botocore): the
service gets its own event loop on a daemon thread, and clients in any other loop or thread
reach it over loopback exactly as they would reach Amazon Polly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from polly_pipeline.errors import PollyPipelineError
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService

__all__ = ["BackgroundServer", "BackgroundService"]

_START_TIMEOUT = 30.0


class _Server(Protocol):
    async def start(self) -> Any: ...
    async def aclose(self) -> None: ...


S = TypeVar("S", bound=_Server)


class BackgroundServer(Generic[S]):
    """``with BackgroundServer(server, ...) as server:``: an async server run on its own thread.

    ``server`` is anything with ``async start()`` and ``async aclose()`` (the local Polly
    service, a plugin's stand-in service); it gets its own event loop on a daemon thread.
    """

    def __init__(self, server: S, *, thread_name: str, description: str) -> None:
        self.server = server
        self._thread_name = thread_name
        self._description = description
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> S:
        """Start the thread and wait until the server listens."""
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise PollyPipelineError(
                f"{self._description} did not start within {_START_TIMEOUT:g} seconds"
            )
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

    def __enter__(self) -> S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class BackgroundService(BackgroundServer[LocalPollyService]):
    """``with BackgroundService() as service:``: a started LocalPollyService on its own thread."""

    def __init__(
        self,
        config: LocalServiceConfig | None = None,
        *,
        ca_file: str | os.PathLike[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(
            LocalPollyService(config, ca_file=ca_file, clock=clock),
            thread_name="polly-local-service",
            description="the local Polly service",
        )

    @property
    def service(self) -> LocalPollyService:
        """The service this runs."""
        return self.server
