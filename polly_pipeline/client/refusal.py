"""Client layer: a stream request the service refused with an HTTP error, and reading why.

The error body is read before any synthesis stream exists, so the stream's own read deadline
does not cover it (its exchange is opened with ``read_deadline=False``): the whole body must
arrive within ``Timeouts.read``, or the refusal is a :class:`~polly_pipeline.errors.ReadTimeout`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Sequence

from polly_pipeline.errors import ReadTimeout, ServiceException
from polly_pipeline.protocol.events import exception_from_http_error

__all__ = ["ERROR_BODY_LIMIT", "Refused", "refusal"]

#: How much of an HTTP error body is read to build the exception.
ERROR_BODY_LIMIT = 64 * 1024


class Refused(Exception):
    """The service answered the stream request with an error (and these headers)."""

    def __init__(self, error: ServiceException, headers: Sequence[tuple[str, str]]) -> None:
        super().__init__(str(error))
        self.error = error
        self.headers = headers


async def refusal(
    body: AsyncIterable[bytes],
    status: int,
    headers: Sequence[tuple[str, str]],
    read_timeout: float,
) -> Refused:
    """The refusal an HTTP ``status`` answer carries, its body read within ``read_timeout``.

    Raises:
        ReadTimeout: the body did not end (or reach :data:`ERROR_BODY_LIMIT`) in time.
    """
    data = bytearray()
    try:
        async with asyncio.timeout(read_timeout):
            async for chunk in body:
                data += chunk
                if len(data) >= ERROR_BODY_LIMIT:
                    break
    except TimeoutError:
        raise ReadTimeout(
            read_timeout,
            f"the service answered HTTP {status} but its error body did not arrive in full "
            f"within {read_timeout:g}s ({len(data)} bytes came)",
        ) from None
    return Refused(exception_from_http_error(status, headers, bytes(data)), headers)
