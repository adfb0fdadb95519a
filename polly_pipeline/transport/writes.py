"""Transport layer: request body writes handed to awscrt, bounded in bytes and in time.

awscrt queues the writes of one HTTP/2 stream and completes them in order, as the server's
flow-control window lets them out. Small frames (one TextEvent per token) are handed over
without waiting for the previous one to complete, up to :data:`AHEAD` bytes not yet written;
a larger write is waited for before the body is pulled again, so nothing is buffered far
ahead of the server. One watchdog timer (not one per write) enforces ``Timeouts.write`` on the
oldest write still pending.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from io import BytesIO
from typing import Any

from polly_pipeline.transport.crt import post
from polly_pipeline.transport.waiters import Waiters

__all__ = ["AHEAD", "StreamOver", "Writes"]

#: Bytes that may be handed to awscrt and not yet written before the body waits.
AHEAD = 16 * 1024


class StreamOver(Exception):
    """awscrt no longer accepts writes: the stream completed (the response side says why)."""


class Writes:
    """The writes of one stream that awscrt has not completed yet."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, timeout: float, on_timeout: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._timeout = timeout
        self._on_timeout = on_timeout
        self._pending: deque[tuple[float, int]] = deque()  # (handed over at, bytes)
        self._timer: asyncio.TimerHandle | None = None
        self.bytes = 0
        #: A write failed: the stream completed under it.
        self.over = False
        self.changed = Waiters()

    @property
    def pending(self) -> int:
        """Writes handed over and not completed."""
        return len(self._pending)

    def submit(self, crt_stream: Any, data: bytes | None, *, end: bool) -> None:
        """Hand one write to awscrt; raises StreamOver if it refuses at once."""
        try:
            done = crt_stream.write_data(BytesIO(data) if data else None, end)
        except Exception as exc:  # awscrt refuses at once: the stream has completed
            self.over = True
            raise StreamOver from exc
        size = len(data) if data else 0
        now = self._loop.time()
        self._pending.append((now, size))
        self.bytes += size
        if self._timer is None:
            self._timer = self._loop.call_at(now + self._timeout, self._check)
        loop = self._loop
        done.add_done_callback(lambda f: post(loop, self._completed, f.exception()))

    def _completed(self, exc: BaseException | None) -> None:
        if self._pending:
            _, size = self._pending.popleft()
            self.bytes -= size
        if exc is not None:
            self.over = True
        if not self._pending and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.changed.notify()

    def _check(self) -> None:
        """The watchdog: fail if the oldest pending write is older than the timeout."""
        self._timer = None
        if not self._pending:
            return
        due = self._pending[0][0] + self._timeout
        if self._loop.time() >= due - 1e-3:
            self._on_timeout()
        else:
            self._timer = self._loop.call_at(due, self._check)

    async def wait_below(self, limit: int, deadline: float) -> bool:
        """Wait until fewer than ``limit`` bytes (0: no write at all) are pending.

        Returns False if a write failed or ``deadline`` (loop time) passed first.
        """
        while not self.over and (self.bytes >= limit if limit else self._pending):
            if not await self.changed.wait(deadline):
                return False
        return not self.over

    def cancel(self) -> None:
        """Stop the watchdog (the stream is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
