"""LiveKit bridge (a plugin): where speech comes from, and who closes it.

A LiveKit ``TTS`` is built synchronously, often before an event loop runs, and closed from
whichever task ends the agent. The Polly client it opens itself (Amazon Polly, or the embedded
local service when no AWS credentials are configured) therefore lives in one task of its own,
entered and exited there, so the service's context is never left from a foreign task.
"""

from __future__ import annotations

import asyncio
import contextlib

from polly_pipeline.backends import PollyOptions, open_polly
from polly_pipeline.client import PollyStreamingClient

__all__ = ["Backend"]


class Backend:
    """A Polly client: the caller's own, or one opened on first use and closed by :meth:`aclose`."""

    def __init__(self, client: PollyStreamingClient | None, options: PollyOptions) -> None:
        self._given = client
        self._options = options
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[PollyStreamingClient] | None = None
        self._stop: asyncio.Event | None = None

    async def client(self) -> PollyStreamingClient:
        """The client, opening the backend the first time.

        Raises:
            PollyPipelineError: the backend could not be opened (bad options, no region...).
        """
        if self._given is not None:
            return self._given
        if self._task is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._run(self._ready, self._stop), name="polly-tts")
        ready = self._ready
        assert ready is not None
        try:
            return await asyncio.shield(ready)
        except Exception:
            if self._ready is ready:  # opening failed: the next call tries again
                self._task = self._ready = None
            raise

    async def _run(self, ready: asyncio.Future[PollyStreamingClient], stop: asyncio.Event) -> None:
        try:
            async with open_polly(self._options) as client:
                ready.set_result(client)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
                ready.exception()  # retrieved here: the caller may have gone away
            if not isinstance(exc, Exception):
                raise

    async def aclose(self) -> None:
        """Close the client this object opened (a client given by the caller stays open)."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._stop is not None:
            self._stop.set()
        if self._ready is not None and not self._ready.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._ready = None
