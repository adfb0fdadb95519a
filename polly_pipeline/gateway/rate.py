"""Gateway layer: a token bucket that bounds how fast one connection may send text."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` units per second on average, ``burst`` at once.

    Args:
        rate: units added per second.
        burst: the most units held.
        clock: seconds, monotonic (injectable for tests).
    """

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._level = burst
        self._at = clock()

    def take(self, amount: float) -> bool:
        """Take ``amount`` units if they are there (True), else take nothing (False)."""
        now = self._clock()
        self._level = min(self._burst, self._level + (now - self._at) * self._rate)
        self._at = now
        if amount > self._level:
            return False
        self._level -= amount
        return True

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` units will be there."""
        return max(0.0, (amount - self._level) / self._rate)
