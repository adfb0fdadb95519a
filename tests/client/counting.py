"""A transport around the real awscrt pool that counts the exchanges open at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.transport import (
    ConnectionPool,
    DuplexStream,
    Endpoint,
    Response,
    Timeouts,
    TLSConfig,
)

#: These tests are about concurrency, not deadlines: a loaded machine must not fail them.
RELAXED = Timeouts(connect=10.0, response_headers=10.0, read=10.0, write=10.0, close=2.0)


class _Counted:
    def __init__(self, inner: DuplexStream, owner: CountingTransport) -> None:
        self._inner, self._owner, self._open = inner, owner, True

    async def response(self) -> Response:
        return await self._inner.response()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._inner.__aiter__()

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._owner.open -= 1
        await self._inner.aclose()


class CountingTransport:
    """The real pool, counting the exchanges open at once (and the most ever)."""

    def __init__(self, service: LocalPollyService) -> None:
        self._pool = ConnectionPool(timeouts=RELAXED, tls=TLSConfig(str(service.ca_file)))
        self.open = 0
        self.peak = 0

    async def open_stream(self, endpoint: Endpoint, **kwargs: Any) -> DuplexStream:
        inner = await self._pool.open_stream(endpoint, **kwargs)
        self.open += 1
        self.peak = max(self.peak, self.open)
        return _Counted(inner, self)

    async def aclose(self) -> None:
        await self._pool.aclose()
