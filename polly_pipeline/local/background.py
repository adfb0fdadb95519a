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

from polly_pipeline.errors import PollyPipelineError
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService

__all__ = ["BackgroundService"]

_START_TIMEOUT = 30.0


class BackgroundService:
    """``with BackgroundService() as service:``: a started LocalPollyService on its own thread."""

    def __init__(
        self,
        config: LocalServiceConfig | None = None,
        *,
        ca_file: str | os.PathLike[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.service = LocalPollyService(config, ca_file=ca_file, clock=clock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> LocalPollyService:
        """Start the thread and wait until the service listens."""
        self._thread = threading.Thread(target=self._run, name="polly-local-service", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise PollyPipelineError("the local Polly service did not start within 30 seconds")
        if self._error is not None:
            raise self._error
        return self.service

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.service.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.service.aclose()

    def stop(self) -> None:
        """Stop the service and join the thread. Idempotent."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(_START_TIMEOUT)
            self._thread = None

    def __enter__(self) -> LocalPollyService:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
