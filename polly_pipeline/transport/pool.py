"""Transport layer: a pool of HTTP/2 connections that never queues a stream behind a full one.

awscrt silently queues a stream that would exceed the server's SETTINGS_MAX_CONCURRENT_STREAMS
(with a limit of 1, a second stream on a busy connection just hangs). The pool counts streams
per connection and, when every connection is full, opens another one instead. ``pool_size``
bounds how many idle connections stay warm, not how many may be open.

While no server limit is known yet, openers share one connection attempt instead of each
opening a connection; once the server's SETTINGS told the limit, enough connections are opened
in parallel for everyone waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from polly_pipeline._aio import AsyncResource, TaskSet
from polly_pipeline.errors import (
    ConfigurationError,
    ConnectError,
    ConnectionClosedError,
    ConnectTimeout,
    StreamStateError,
)
from polly_pipeline.transport.config import Endpoint, Timeouts, TLSConfig
from polly_pipeline.transport.connection import Connection
from polly_pipeline.transport.crt import CONNECTION_GONE, error_name, stream_error, tls_context
from polly_pipeline.transport.stream import Http2Stream
from polly_pipeline.transport.waiters import Waiters

__all__ = ["ConnectionPool", "PoolStats"]

log = logging.getLogger(__name__)

_DEFAULT_TIMEOUTS = Timeouts()
_DEFAULT_TLS = TLSConfig()
#: How often open_stream tries again when a connection closes under a new stream.
_ATTEMPTS = 3
_connection_ids = itertools.count(1)


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of the pool."""

    connections_open: int
    streams_active: int
    connections_created: int


class _Host:
    """The pooled connections to one (endpoint, TLS) key."""

    def __init__(self) -> None:
        self.conns: list[Connection] = []
        self.attempts: set[asyncio.Task[Connection]] = set()
        self.waiting = 0
        #: The latest SETTINGS_MAX_CONCURRENT_STREAMS this server sent.
        self.capacity: int | None = None
        self.changed = Waiters()

    def take(self) -> Connection | None:
        """Reserve a slot on the first connection that has one."""
        for conn in self.conns:
            if conn.has_capacity():
                conn.reserve()
                return conn
        return None


class ConnectionPool(AsyncResource):
    """HTTP/2 connections (awscrt, TLS with ALPN h2) shared by many streams.

    Args:
        pool_size: how many idle connections per endpoint stay open for reuse.
        timeouts: deadlines for every network wait.
        tls: which certificate authorities to trust (verification is always on).
    """

    def __init__(
        self,
        *,
        pool_size: int = 8,
        timeouts: Timeouts = _DEFAULT_TIMEOUTS,
        tls: TLSConfig = _DEFAULT_TLS,
    ) -> None:
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 0:
            raise ConfigurationError(f"pool_size must be a whole number >= 0, got {pool_size!r}")
        if not isinstance(timeouts, Timeouts):
            raise ConfigurationError(f"timeouts must be a Timeouts, got {timeouts!r}")
        if not isinstance(tls, TLSConfig):
            raise ConfigurationError(f"tls must be a TLSConfig, got {tls!r}")
        self.pool_size = pool_size
        self.timeouts = timeouts
        self.tls = tls
        self._tls_ctx: Any = None  # awscrt.io.ClientTlsContext, made on first use
        self._hosts: dict[tuple[Endpoint, TLSConfig], _Host] = {}
        self._conns: set[Connection] = set()
        #: background connection attempts (each also counted in its host's ``attempts``)
        self._attempts = TaskSet(log)
        self._streams: weakref.WeakSet[Http2Stream] = weakref.WeakSet()
        self._created = 0
        self._closed = False
        self._close_done: asyncio.Event | None = None

    def __repr__(self) -> str:
        s = self.stats()
        return f"<ConnectionPool connections={s.connections_open} streams={s.streams_active}>"

    def stats(self) -> PoolStats:
        """Open connections, streams in flight and connections made so far."""
        return PoolStats(
            connections_open=sum(1 for c in self._conns if not c.closed),
            streams_active=sum(c.active for c in self._conns),
            connections_created=self._created,
        )

    # -- streams -------------------------------------------------------------------------

    async def open_stream(
        self,
        endpoint: Endpoint,
        *,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        body: AsyncIterator[bytes] | None = None,
        use_pool: bool = True,
        read_deadline: bool = True,
    ) -> Http2Stream:
        """Open an HTTP/2 stream to ``endpoint`` and send the request headers.

        The transport adds ``:authority`` (from ``host``, which defaults to the endpoint's
        authority) and the other pseudo-headers. ``body`` is pulled one chunk at a time as
        the connection accepts data; when it is exhausted the request ends (END_STREAM).
        ``use_pool=False`` opens a connection of its own, closed with the stream.
        ``read_deadline=False`` leaves the wait for response data unbounded (the caller
        bounds its reads).

        Raises:
            ConnectError: DNS, refused, TLS (certificate) or ALPN failure.
            ConnectTimeout: a NetworkTimeout with ``phase="connect"``.
        """
        if self._closed:
            raise StreamStateError("the connection pool is closed")
        if not isinstance(endpoint, Endpoint):
            raise ConfigurationError(f"endpoint must be an Endpoint, got {endpoint!r}")
        request_headers = _request_headers(endpoint, headers)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeouts.connect
        last: BaseException | None = None
        for _ in range(_ATTEMPTS):
            if use_pool:
                conn = await self._acquire(endpoint, deadline)
            else:
                conn = await self._connect_dedicated(endpoint)
            stream = Http2Stream(
                conn,
                endpoint,
                self.timeouts,
                on_complete=self._stream_completed,
                on_abandon=self._stream_abandoned,
                read_deadline=read_deadline,
            )
            try:
                stream.start(method, path, request_headers, body)
            except Exception as exc:  # awscrt refused the stream: the connection is going away
                conn.retire()
                name = error_name(exc)
                log.debug("connection %d refused a new stream: %s", conn.id, name)
                if name not in CONNECTION_GONE:
                    raise stream_error(exc, endpoint, before_headers=True) from exc
                last = exc
                continue
            self._streams.add(stream)
            return stream
        raise ConnectionClosedError(
            f"connections to {endpoint} kept closing before a stream could start"
        ) from last

    def _stream_completed(self, conn: Connection) -> None:
        """awscrt completed a stream on ``conn`` (the stream released its slot)."""
        if conn.dedicated:
            conn.close()
        elif conn.retired:
            conn.close_if_done()
        elif conn.active == 0:
            self._trim_idle(conn.endpoint)
        self._notify(conn)

    def _stream_abandoned(self, conn: Connection) -> bool:
        """A stream on ``conn`` was given up on; True if the connection is closing for it."""
        if conn.dedicated or conn.only_abandoned_left:
            log.debug("connection %d: closing for an abandoned stream", conn.id)
            conn.close()
            return True
        log.debug("connection %d: retired (a stream was abandoned)", conn.id)
        conn.retire()
        return False

    # -- connections ---------------------------------------------------------------------

    async def _acquire(self, endpoint: Endpoint, deadline: float) -> Connection:
        """A connection with a free slot (reserved), connecting as many as needed."""
        host = self._hosts.setdefault((endpoint, self.tls), _Host())
        host.waiting += 1
        try:
            while True:
                if self._closed:
                    raise StreamStateError("the connection pool is closed")
                conn = host.take()
                if conn is not None:
                    return conn
                in_flight = len(host.attempts)
                capacity = host.capacity
                wanted = 1 if capacity is None else -(-host.waiting // max(1, capacity))
                for _ in range(wanted - in_flight):
                    self._start_attempt(endpoint, host)
                watched = set(host.attempts)
                if not await host.changed.wait(deadline):
                    conn = host.take()
                    if conn is not None:
                        return conn
                    raise ConnectTimeout(
                        self.timeouts.connect,
                        f"no connection to {endpoint} had a free stream slot",
                    )
                for attempt in watched:
                    if attempt.done() and not attempt.cancelled():
                        error = attempt.exception()
                        if error is not None and not any(c.has_capacity() for c in host.conns):
                            raise error
        finally:
            host.waiting -= 1

    def _start_attempt(self, endpoint: Endpoint, host: _Host) -> None:
        def finished(t: asyncio.Task[Connection]) -> None:
            host.attempts.discard(t)
            if not t.cancelled() and t.exception() is None:
                conn = t.result()
                if self._closed:
                    conn.close()
                else:
                    host.conns.append(conn)
            elif not t.cancelled():  # raised to the waiters that watch it, if any
                log.debug("connection attempt to %s failed: %r", endpoint, t.exception())
            host.changed.notify()

        task = self._attempts.start(
            self._connect(endpoint, dedicated=False), name="polly-connect", on_done=finished
        )
        host.attempts.add(task)

    async def _connect_dedicated(self, endpoint: Endpoint) -> Connection:
        conn = await self._connect(endpoint, dedicated=True)
        if self._closed:
            conn.close()
            raise StreamStateError("the connection pool is closed")
        conn.reserve()
        return conn

    async def _connect(self, endpoint: Endpoint, *, dedicated: bool) -> Connection:
        conn = Connection(
            next(_connection_ids), endpoint, dedicated=dedicated, on_change=self._notify
        )
        if self._tls_ctx is None:
            self._tls_ctx = tls_context(self.tls)
        await conn.open(self.tls, self._tls_ctx, self.timeouts)
        self._created += 1
        if conn.closed:
            raise ConnectError(f"{endpoint} closed the connection right after it was made")
        self._conns.add(conn)
        return conn

    def _notify(self, conn: Connection) -> None:
        """A connection changed (SETTINGS, a stream ended, shutdown): wake the waiters."""
        host = self._hosts.get((conn.endpoint, self.tls))
        if conn.closed:
            self._conns.discard(conn)
            if host is not None and conn in host.conns:
                host.conns.remove(conn)
        elif host is not None and not conn.dedicated and conn.max_streams is not None:
            host.capacity = conn.max_streams
        if host is not None:
            host.changed.notify()

    def _trim_idle(self, endpoint: Endpoint) -> None:
        """Close idle connections beyond ``pool_size`` (the longest idle first)."""
        host = self._hosts.get((endpoint, self.tls))
        if host is None:
            return
        idle = [c for c in host.conns if c.usable and c.active == 0]
        for conn in idle[: max(0, len(idle) - self.pool_size)]:
            log.debug("connection %d: closing, more than %d idle", conn.id, self.pool_size)
            conn.close()

    # -- closing -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every stream and connection. Idempotent."""
        if self._close_done is not None:
            await self._close_done.wait()
            return
        self._closed = True
        self._close_done = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            streams = list(self._streams)
            await asyncio.gather(*(s.aclose() for s in streams), return_exceptions=True)
            await self._attempts.aclose()
            conns = list(self._conns)
            for conn in conns:
                conn.close()
            closed_by = loop.time() + self.timeouts.close
            await asyncio.gather(*(c.wait_closed(closed_by) for c in conns))
        finally:
            self._close_done.set()


def _request_headers(
    endpoint: Endpoint, headers: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Lowercase names, a ``host`` header (it becomes ``:authority``), no pseudo-headers."""
    out: list[tuple[str, str]] = []
    for name, value in headers:
        lower = name.lower()
        if lower.startswith(":"):
            raise ConfigurationError(f"pseudo-header {name!r}: the transport sets those")
        out.append((lower, value))
    if not any(name == "host" for name, _ in out):
        out.insert(0, ("host", endpoint.authority))
    return out
