"""Local service layer: the account's limit on concurrent synthesis streams (``--max-streams``).

Amazon Polly limits how many streams an account runs at once; a stream beyond the limit is
refused with ``ThrottlingException`` before it starts, whichever connection it arrives on.
:class:`StreamAdmission` counts the service's streams across all its connections and refuses
the one over the limit the same way. All counting happens on the service's event loop.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from polly_pipeline.errors import ThrottlingException, ThrottlingReason
from polly_pipeline.local.operation_errors import OperationError

__all__ = ["CONCURRENCY_REASON", "StreamAdmission"]

log = logging.getLogger("polly_pipeline.local")

#: The throttling reason the local service gives for a stream over the concurrency limit.
CONCURRENCY_REASON = ThrottlingReason("ConcurrentStreamsExceeded", "polly:synthesisStream")


class StreamAdmission:
    """Counts the streams in progress and refuses one over ``limit`` (None: no limit).

    Attributes:
        active: streams in progress now.
        peak: the most streams that were ever in progress at once.
        refused: streams refused for the limit.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.active = 0
        self.peak = 0
        self.refused = 0

    def take(self) -> None:
        """Take one of the account's stream slots (give it back with :meth:`release`).

        Raises:
            ThrottlingException: every slot is taken (as Amazon Polly answers, HTTP 400).
        """
        if self.limit is not None and self.active >= self.limit:
            self.refused += 1
            log.info("stream refused: %d of %d streams in progress", self.active, self.limit)
            raise ThrottlingException(
                f"Rate exceeded: this account runs at most {self.limit} synthesis streams at "
                "once; retry when one has ended",
                throttling_reasons=[CONCURRENCY_REASON],
            )
        self.active += 1
        self.peak = max(self.peak, self.active)

    def release(self) -> None:
        """Give back a slot taken with :meth:`take` (the stream ended)."""
        self.active -= 1

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for the ``with`` block; beyond the limit, answer HTTP 400 throttling.

        Raises:
            OperationError: the HTTP-level ``ThrottlingException`` (every slot is taken).
        """
        try:
            self.take()
        except ThrottlingException as exc:
            raise OperationError.of(exc) from None
        try:
            yield
        finally:
            self.release()
