"""Transport layer: one awscrt HTTP/2 connection, its stream slots, and how to open one.

A :class:`Connection` counts the streams it carries against the server's
SETTINGS_MAX_CONCURRENT_STREAMS, because awscrt would silently queue a stream beyond that
limit. The pool and the streams keep that count through four calls: :meth:`~Connection.reserve`
(a slot for a stream about to start), :meth:`~Connection.release` (the stream is over, or never
started), :meth:`~Connection.abandon` (a stream was given up on) and
:attr:`~Connection.only_abandoned_left`.

Its socket gets TCP_NODELAY (see :mod:`~polly_pipeline.transport.nodelay`). A connection is
handed out only after the server's SETTINGS arrived (awscrt reports the
connection up before that): besides the stream limit, awscrt 0.38 never resumes a stream that
ran out of flow-control window before a SETTINGS frame raised the initial window, so a request
body sent early can stall for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future as CrtFuture
from typing import Any

from awscrt import http as crt_http
from awscrt import io as crt_io

from polly_pipeline._aio import task_group
from polly_pipeline.errors import ConnectError, ConnectTimeout
from polly_pipeline.transport.config import Endpoint, Timeouts, TLSConfig
from polly_pipeline.transport.crt import CA_HINT, connect_error, post
from polly_pipeline.transport.nodelay import disable_nagle, tcp_sockets
from polly_pipeline.transport.probe import certificate_problem, probe_is_authoritative

__all__ = ["SETTINGS_WAIT", "Connection"]

log = logging.getLogger(__name__)

#: How long a new connection waits for the server's SETTINGS before assuming one stream.
SETTINGS_WAIT = 1.0
#: After this long without a TLS handshake, check the certificate independently (see probe).
PROBE_AFTER = 0.5
#: Receive window per stream: how much response body may wait unread.
RECEIVE_WINDOW = 1024 * 1024
_UNLIMITED = 2**31 - 1


class Connection:
    """One awscrt HTTP/2 connection and the streams of ours it carries."""

    def __init__(
        self,
        conn_id: int,
        endpoint: Endpoint,
        *,
        dedicated: bool,
        on_change: Callable[[Connection], None],
    ) -> None:
        self.id = conn_id
        self.endpoint = endpoint
        self.dedicated = dedicated
        self.crt: Any = None  # awscrt.http.Http2ClientConnection once connected
        #: The server's SETTINGS_MAX_CONCURRENT_STREAMS (None until its SETTINGS arrive).
        self.max_streams: int | None = None
        #: Streams opened on this connection that awscrt has not completed yet.
        self.active = 0
        #: Of those, streams given up on (their connection must not outlive the others).
        self.abandoned = 0
        #: No new streams (GOAWAY, a stream was abandoned, pool trimming or closing).
        self.retired = False
        self.closed = False
        self._on_change = on_change
        self._loop = asyncio.get_running_loop()
        self._shutdown = self._loop.create_future()
        self._settings_seen = self._loop.create_future()

    def __repr__(self) -> str:
        return (
            f"<Connection {self.id} {self.endpoint} active={self.active} "
            f"max_streams={self.max_streams} retired={self.retired} closed={self.closed}>"
        )

    # -- state ------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Open and willing to take new streams."""
        return (
            not self.retired
            and not self.closed
            and self.crt is not None
            and bool(self.crt.is_open())
        )

    @property
    def limit(self) -> int:
        """How many streams may be open at once (none until the server's SETTINGS arrive)."""
        return 0 if self.max_streams is None else self.max_streams

    def has_capacity(self) -> bool:
        """True if another stream may be opened on this connection now."""
        return self.usable and self.active < self.limit

    # -- stream slots (the interface the pool and the streams use) ---------------------------

    def reserve(self) -> None:
        """Count one more stream against the server's limit (before it is started)."""
        self.active += 1

    def release(self, *, abandoned: bool) -> None:
        """One stream no longer counts: awscrt completed it, or it never started."""
        self.active -= 1
        if abandoned:
            self.abandoned -= 1

    def abandon(self) -> None:
        """One of its streams was given up on before awscrt completed it."""
        self.abandoned += 1

    @property
    def only_abandoned_left(self) -> bool:
        """True when every stream it still carries was given up on (or none is left)."""
        return self.active <= self.abandoned

    def retire(self) -> None:
        """Take no new streams; close once only abandoned streams (or none) remain."""
        self.retired = True
        self.close_if_done()

    def close_if_done(self) -> None:
        """Close a retired connection whose remaining streams are all abandoned."""
        if self.retired and self.only_abandoned_left:
            self.close()

    def close(self) -> None:
        """Start closing (awscrt sends GOAWAY and shuts the socket); see :meth:`wait_closed`."""
        self.retired = True
        if self.crt is not None and not self.closed:
            self.crt.close()
        elif self.crt is None:
            self._mark_shutdown()

    async def wait_closed(self, deadline: float) -> None:
        """Wait (until the loop clock reaches ``deadline``) for awscrt to shut the connection."""
        await asyncio.wait({self._shutdown}, timeout=max(0.0, deadline - self._loop.time()))

    # -- opening ------------------------------------------------------------------------------

    async def open(
        self,
        tls: TLSConfig,
        tls_ctx: crt_io.ClientTlsContext,
        timeouts: Timeouts,
    ) -> None:
        """Connect (TCP, TLS with ALPN h2) and wait for the server's SETTINGS.

        All within ``timeouts.connect``; if the SETTINGS are late (:data:`SETTINGS_WAIT`),
        assume the server allows one stream.
        """
        loop = self._loop
        endpoint = self.endpoint
        socket_options = crt_io.SocketOptions()
        socket_options.connect_timeout_ms = max(1, int(timeouts.connect * 1000))
        tls_options = tls_ctx.new_connection_options()
        tls_options.set_server_name(endpoint.host)
        arrived: asyncio.Future[CrtFuture[Any]] = loop.create_future()

        def deliver(setup: CrtFuture[Any]) -> None:  # on the loop
            if arrived.done():  # we gave up on this attempt: close what turned up late
                if setup.exception() is None:
                    setup.result().close()
                return
            arrived.set_result(setup)

        def on_setup(setup: CrtFuture[Any]) -> None:  # on an awscrt thread
            if setup.exception() is None:
                setup.result().shutdown_future.add_done_callback(
                    lambda _f: post(loop, self._mark_shutdown)
                )
            if not post(loop, deliver, setup) and setup.exception() is None:
                setup.result().close()

        sockets_before = tcp_sockets()
        crt_http.Http2ClientConnection.new(
            endpoint.host,
            endpoint.port,
            socket_options=socket_options,
            tls_connection_options=tls_options,
            on_remote_settings_changed=self._crt_settings,
            manual_window_management=True,
            initial_window_size=RECEIVE_WINDOW,
        ).add_done_callback(on_setup)

        deadline = loop.time() + timeouts.connect
        probe: asyncio.Task[str | None] | None = None
        # the probe (a plain TLS handshake that names a certificate problem) ends with the attempt
        async with task_group() as tasks:
            try:
                await asyncio.wait({arrived}, timeout=min(PROBE_AFTER, timeouts.connect / 4))
                if not arrived.done():
                    probe = tasks.create_task(certificate_problem(endpoint, tls))
                    either: set[asyncio.Future[Any]] = {arrived, probe}
                    await asyncio.wait(
                        either, timeout=deadline - loop.time(), return_when=asyncio.FIRST_COMPLETED
                    )
                    problem = probe.result() if probe.done() else None
                    if problem is not None and probe_is_authoritative(tls):
                        raise _certificate_error(endpoint, problem)
                    if not arrived.done():
                        await asyncio.wait({arrived}, timeout=deadline - loop.time())
                if not arrived.done():
                    problem = probe.result() if probe is not None and probe.done() else None
                    if problem is not None:
                        raise _certificate_error(endpoint, problem)
                    raise ConnectTimeout(
                        timeouts.connect, f"TCP connect and TLS handshake with {endpoint}"
                    )
                setup = arrived.result()
                exc = setup.exception()
                if exc is not None:
                    raise connect_error(exc, endpoint, timeouts.connect) from exc
                self.crt = setup.result()
                # small frames must not wait for the server's delayed ACK (see nodelay)
                tuned = disable_nagle(endpoint.port, sockets_before)
                log.debug("connection %d: TCP_NODELAY set on %d socket(s)", self.id, tuned)
            finally:
                if probe is not None:
                    probe.cancel()
                if not arrived.done():
                    arrived.cancel()  # a late connection is closed by deliver()
        wait = max(0.0, min(SETTINGS_WAIT, deadline - loop.time()))
        try:
            await asyncio.wait({self._settings_seen}, timeout=wait)
        except BaseException:  # cancelled (pool closing): nobody else will close it
            self.close()
            raise
        if self.max_streams is None:
            log.debug("connection %d: no SETTINGS after %gs; assuming one stream", self.id, wait)
            self.max_streams = 1
        log.debug("connection %d to %s is up", self.id, endpoint)

    # -- awscrt callbacks ----------------------------------------------------------------------

    def _crt_settings(self, settings: list[Any]) -> None:  # on an awscrt thread
        pairs = [(int(s.id), int(s.value)) for s in settings]
        post(self._loop, self._on_settings, pairs)

    def _on_settings(self, pairs: list[tuple[int, int]]) -> None:
        values = dict(pairs)
        limit = values.get(int(crt_http.Http2SettingID.MAX_CONCURRENT_STREAMS))
        if limit is not None:
            self.max_streams = min(limit, _UNLIMITED)
        elif self.max_streams is None:
            self.max_streams = _UNLIMITED  # SETTINGS without a limit: the default, unlimited
        if not self._settings_seen.done():
            self._settings_seen.set_result(None)
        log.debug("connection %d: server allows %s concurrent streams", self.id, limit)
        self._on_change(self)

    def _mark_shutdown(self) -> None:
        self.closed = True
        self.retired = True
        if not self._shutdown.done():
            self._shutdown.set_result(None)
        if not self._settings_seen.done():
            self._settings_seen.set_result(None)
        self._on_change(self)


def _certificate_error(endpoint: Endpoint, problem: str) -> ConnectError:
    return ConnectError(
        f"could not connect to {endpoint}: the server's TLS certificate could not be verified "
        f"({problem}); {CA_HINT}"
    )
