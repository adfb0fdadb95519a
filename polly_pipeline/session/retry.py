"""Session layer: the retry policy (bounded exponential backoff with full jitter)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from polly_pipeline.errors import ConfigurationError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter.

    Attributes:
        max_attempts: streams tried for one turn before it fails (the first try included).
        base_delay: the first backoff, in seconds.
        max_delay: the cap on any one backoff.
        jitter: spread each delay uniformly over [0, delay] (AWS "full jitter").
        max_throttle_wait: the seconds a turn waits in all, with the same backoff, while the
            service refuses its streams for a concurrency or rate quota
            (``ThrottlingException``, ``ServiceQuotaExceededException`` for a quota other
            than a stream's own idle or duration limit). Such refusals do not count towards
            ``max_attempts``: the turn waits for a slot instead of failing, and fails with a
            :class:`~polly_pipeline.errors.SessionError` once it has waited this long.
    """

    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 3.0
    jitter: bool = True
    max_throttle_wait: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("RetryPolicy.max_attempts must be >= 1")
        for name in ("base_delay", "max_delay", "max_throttle_wait"):
            value = getattr(self, name)
            if not value >= 0:  # also NaN
                raise ConfigurationError(
                    f"RetryPolicy.{name} must be a number of seconds >= 0, got {value!r}"
                )

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """The wait before retry number ``retry`` (1 for the first retry)."""
        delay = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return (rng or random).uniform(0, delay) if self.jitter else delay
