"""Local service layer: byte budgets that bound how far a producer may run ahead of a consumer.

A synthesis stream renders audio ahead of what the client has read only as far as its budget
and its connection's budget allow; the writer gives bytes back as they reach the wire. Memory
then stays bounded however slowly (or never) a client reads.
"""

from __future__ import annotations

import asyncio

__all__ = ["ByteBudget", "reserve"]


class ByteBudget:
    """At most ``limit`` units held at once (one item is always let through when none is held)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a budget's limit must be at least 1, got {limit}")
        self.limit = limit
        self.used = 0
        self._waiters: set[asyncio.Future[None]] = set()

    def __repr__(self) -> str:
        return f"<ByteBudget {self.used}/{self.limit}>"

    def fits(self, size: int) -> bool:
        """Whether ``size`` more units may be taken now."""
        return self.used == 0 or self.used + size <= self.limit

    def take(self, size: int) -> None:
        """Hold ``size`` units without waiting (the caller bounds them another way)."""
        self.used += size

    def release(self, size: int) -> None:
        """Give ``size`` units back and wake whoever waits for room."""
        self.used = max(0, self.used - size)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for_room(self, size: int = 0) -> None:
        """Return once ``size`` units fit."""
        while not self.fits(size):
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)


async def reserve(size: int, *budgets: ByteBudget) -> None:
    """Wait until ``size`` fits every budget, then take it from each."""
    while not all(budget.fits(size) for budget in budgets):
        for budget in budgets:
            await budget.wait_for_room(size)
    for budget in budgets:
        budget.take(size)
