"""Session layer, pure core: which errors a turn retries, and which are quota refusals.

A turn goes on on a new stream after an error a new stream can cure (:func:`classify`); a
refusal for a concurrency or rate quota (:func:`refused_for_quota`) is not a failure at all:
the turn waits for a slot, within its own budget (``RetryPolicy.max_throttle_wait``).
"""

from __future__ import annotations

import enum

from polly_pipeline.errors import (
    ServiceFailureException,
    ServiceQuotaExceededException,
    StreamLimitError,
    ThrottlingException,
    TransportError,
    UnmodeledServiceError,
)

__all__ = ["RETRYABLE", "FailureKind", "classify", "refused_for_quota"]

#: Errors after which a turn goes on on a new stream (besides 5xx unmodelled errors).
RETRYABLE: tuple[type[BaseException], ...] = (
    TransportError,
    ThrottlingException,
    ServiceFailureException,
    ServiceQuotaExceededException,
    StreamLimitError,
)


#: Quota codes of one stream's own limits (idle, duration): not a refusal to start streams.
_STREAM_LIFE_QUOTAS = frozenset({"input-stream-inbound-event-timeout", "input-stream-timeout"})


def refused_for_quota(exc: BaseException) -> bool:
    """Whether a stream was refused for a concurrency or rate quota (a slot may come free).

    ``ThrottlingException``, ``ServiceQuotaExceededException`` for a quota other than a
    stream's own idle or duration limit, and the client's own cap (``StreamLimitError``).
    """
    if isinstance(exc, ThrottlingException | StreamLimitError):
        return True
    return (
        isinstance(exc, ServiceQuotaExceededException) and exc.quota_code not in _STREAM_LIFE_QUOTAS
    )


class FailureKind(enum.Enum):
    """How a turn treats an error from one of its streams."""

    #: the stream or the service failed us; the turn goes on on a new stream
    RETRYABLE = "retryable"
    #: the request itself is wrong (validation, a 4xx): resending it cannot help
    FATAL = "fatal"


def classify(exc: BaseException) -> FailureKind:
    """Whether a turn may retry after ``exc`` ended one of its streams."""
    if isinstance(exc, RETRYABLE):
        return FailureKind.RETRYABLE
    if isinstance(exc, UnmodeledServiceError) and (exc.status or 0) >= 500:
        return FailureKind.RETRYABLE
    return FailureKind.FATAL
