"""Transport layer: HTTP/2 over TLS with awscrt: connection pool, duplex streams, deadlines.

The only layer that imports awscrt. It moves bytes and knows nothing about Polly::

    pool = ConnectionPool(timeouts=Timeouts(connect=5), tls=TLSConfig(ca_file="ca.pem"))
    async with await pool.open_stream(
        Endpoint.from_url("https://127.0.0.1:8443"),
        method="POST", path="/v1/synthesisStream", headers=[...], body=chunks(),
    ) as stream:
        response = await stream.response()
        async for data in stream:
            ...
    await pool.aclose()

Every network wait has a deadline (:class:`Timeouts`); failures surface as the
:class:`~polly_pipeline.errors.TransportError` subclasses, never as awscrt exceptions.
"""

from __future__ import annotations

from polly_pipeline.transport.base import DuplexStream, ReadyBody, Transport
from polly_pipeline.transport.config import Endpoint, Timeouts, TLSConfig, is_loopback
from polly_pipeline.transport.pool import ConnectionPool, PoolStats
from polly_pipeline.transport.response import Response
from polly_pipeline.transport.stream import Http2Stream

__all__ = [
    "ConnectionPool",
    "DuplexStream",
    "Endpoint",
    "Http2Stream",
    "PoolStats",
    "ReadyBody",
    "Response",
    "TLSConfig",
    "Timeouts",
    "Transport",
    "is_loopback",
]
