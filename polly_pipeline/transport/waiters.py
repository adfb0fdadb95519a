"""Transport layer: a "something changed" signal that many tasks can wait on with a deadline."""

from __future__ import annotations

import asyncio

__all__ = ["Waiters"]


class Waiters:
    """Tasks wait for :meth:`notify`; each waiter has its own future, so one timing out or
    being cancelled never disturbs the others. Waiters re-check their condition after waking.
    """

    def __init__(self) -> None:
        self._futures: set[asyncio.Future[None]] = set()

    async def wait(self, deadline: float | None) -> bool:
        """Wait until notified or the loop clock reaches ``deadline`` (None: no deadline).

        True if notified.
        """
        loop = asyncio.get_running_loop()
        if deadline is not None and deadline <= loop.time():
            return False
        future = loop.create_future()
        self._futures.add(future)
        try:
            timeout = None if deadline is None else deadline - loop.time()
            done, _ = await asyncio.wait({future}, timeout=timeout)
        finally:
            self._futures.discard(future)
            if not future.done():
                future.cancel()
        return bool(done)

    def notify(self) -> None:
        """Wake every current waiter."""
        for future in self._futures:
            if not future.done():
                future.set_result(None)
