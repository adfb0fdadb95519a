"""Client layer: the clock the client signs with, corrected by the server's ``Date``.

A request signed with a clock too far from the service's is refused (``InvalidSignatureException``
"Signature expired" / "Signature not yet current", ``RequestTimeTooSkewed`` and kin). Like the
AWS SDKs, the client then takes its offset from the answer's ``Date`` header, remembers it and
retries once; later requests are signed with the corrected clock from the start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from polly_pipeline.errors import ServiceException

__all__ = ["CLOCK_SKEW_CODES", "SKEW_THRESHOLD", "SkewCorrectedClock"]

_log = logging.getLogger(__name__)

#: Error codes AWS answers when a request's time is too far from the service's (the AWS SDKs'
#: list); an offset is only adopted when the server's ``Date`` also disagrees.
CLOCK_SKEW_CODES = frozenset(
    {
        "RequestTimeTooSkewed",
        "RequestExpired",
        "RequestInTheFuture",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AuthFailure",
    }
)
#: How far the server's ``Date`` must be from the corrected clock to count as skew (the
#: service tolerates 5 minutes; ``Date`` has one-second resolution).
SKEW_THRESHOLD = timedelta(minutes=4)


def _server_date(headers: Sequence[tuple[str, str]]) -> datetime | None:
    for name, value in headers:
        if name.lower() == "date":
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return None


class SkewCorrectedClock:
    """A clock plus the offset learned from the service (callable: the time to sign with).

    Args:
        clock: the machine's clock (timezone-aware UTC).
    """

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._offset = timedelta(0)

    def __call__(self) -> datetime:
        return self._clock() + self._offset

    @property
    def offset(self) -> float:
        """Seconds the service's clock is ahead of this machine's (0.0 until corrected)."""
        return self._offset.total_seconds()

    def correct(self, error: ServiceException, headers: Sequence[tuple[str, str]]) -> bool:
        """Adopt the service's clock if ``error`` refused the request for skew.

        Returns:
            True when the offset changed (the request is worth one retry).
        """
        if error.error_code not in CLOCK_SKEW_CODES:
            return False
        server = _server_date(headers)
        if server is None:
            return False
        local = self._clock()
        if abs(server - (local + self._offset)) < SKEW_THRESHOLD:
            return False  # the clocks agree: refused for another reason
        self._offset = server - local
        _log.info(
            "clock skew corrected: the service's clock is %+.0f s from this machine's; "
            "requests are signed with the service's time",
            self.offset,
        )
        return True
