"""Transport layer: request body writes handed to awscrt, bounded in bytes and in time.

awscrt queues the writes of one HTTP/2 stream and completes them in order, as the server's
flow-control window lets them out. Small frames (one TextEvent per token) are handed over
without waiting for the previous one to complete, up to :data:`AHEAD` bytes not yet written;
a larger write is waited for before the body is pulled again, so nothing is buffered far
ahead of the server. One watchdog timer (not one per write) enforces ``Timeouts.write`` on the
oldest write still pending. A completed write wakes the event loop only when a task waits for
the writes (or the write failed); otherwise it is noticed the next time the count matters.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future as CrtFuture
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
    """The writes of one stream that awscrt has not completed yet.

    A write's completion does not wake the event loop by itself: the pending writes are
    checked (:meth:`_reap`) whenever their count matters, and awscrt's completion callback
    posts to the loop only while a task waits in :meth:`wait_below` or when a write failed.
    Token-by-token text costs one loop wake-up per event less.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, timeout: float, on_timeout: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._timeout = timeout
        self._on_timeout = on_timeout
        self._pending: deque[tuple[float, int, CrtFuture[None]]] = deque()  # (at, bytes, done)
        self._bytes = 0
        self._over = False
        self._waiting = 0  # tasks in wait_below: completions must wake the loop
        self._timer: asyncio.TimerHandle | None = None
        self.changed = Waiters()

    @property
    def over(self) -> bool:
        """True once a write failed: the stream completed under it."""
        self._reap()
        return self._over

    @property
    def behind(self) -> int:
        """Bytes handed over and not written yet."""
        self._reap()
        return self._bytes

    @property
    def pending(self) -> int:
        """Writes handed over and not completed."""
        self._reap()
        return len(self._pending)

    def submit(self, crt_stream: Any, data: bytes | None, *, end: bool) -> None:
        """Hand one write to awscrt; raises StreamOver if it refuses at once."""
        try:
            done = crt_stream.write_data(BytesIO(data) if data else None, end)
        except Exception as exc:  # awscrt refuses at once: the stream has completed
            self._over = True
            raise StreamOver from exc
        size = len(data) if data else 0
        now = self._loop.time()
        self._pending.append((now, size, done))
        self._bytes += size
        if self._timer is None:
            self._timer = self._loop.call_at(now + self._timeout, self._check)
        done.add_done_callback(self._on_done)

    def _on_done(self, future: CrtFuture[None]) -> None:  # on an awscrt thread (or the loop)
        if self._waiting or future.cancelled() or future.exception() is not None:
            post(self._loop, self._wake)

    def _wake(self) -> None:
        self._reap()
        self.changed.notify()

    def _reap(self) -> None:
        """Forget the writes awscrt completed (it completes a stream's writes in order)."""
        pending = self._pending
        while pending and pending[0][2].done():
            _, size, done = pending.popleft()
            self._bytes -= size
            if done.cancelled() or done.exception() is not None:
                self._over = True

    def _check(self) -> None:
        """The watchdog: fail if the oldest pending write is older than the timeout."""
        self._timer = None
        self._reap()
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
        self._waiting += 1
        try:
            while True:
                self._reap()
                if self._over:
                    return False
                if not (self._bytes >= limit if limit else self._pending):
                    return True
                if not await self.changed.wait(deadline):
                    return False
        finally:
            self._waiting -= 1

    def cancel(self) -> None:
        """Stop the watchdog (the stream is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
