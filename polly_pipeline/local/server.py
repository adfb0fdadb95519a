"""Local service layer: a small HTTP/2 + HTTP/1.1 server over TLS (asyncio, h2, h11).

One :data:`Handler` serves every request, whichever protocol ALPN picked: HTTP/2 (``h2``, each
stream in its own task as soon as its HEADERS arrive, so request and response bodies flow at
the same time) or HTTP/1.1 (``http/1.1`` or no ALPN; keep-alive, one request at a time).

Backpressure is real in both directions: a request body is credited back to the client (HTTP/2
WINDOW_UPDATE, or resumed socket reads for HTTP/1.1) only as the handler consumes it, and
:meth:`Responder.send_data` waits for the client's flow-control windows and for the socket to
drain instead of buffering. The protocol engines live in :mod:`.http2` and :mod:`.http1`; this
module holds what handlers see and the listener.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import itertools
import logging
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from polly_pipeline._aio import AsyncResource
from polly_pipeline.errors import (
    ConfigurationError,
    ServerSideError,
    StreamStateError,
)
from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.memory import trim_heap

__all__ = [
    "BodyTooLarge",
    "ConnectionControl",
    "Handler",
    "HttpServer",
    "Request",
    "RequestBody",
    "Responder",
    "StreamClosed",
]

log = logging.getLogger(__name__)

#: HTTP/2 error code INTERNAL_ERROR (RFC 9113 section 7).
INTERNAL_ERROR = 2
#: How long a client may take to complete the TLS handshake.
HANDSHAKE_TIMEOUT = 10.0
#: How long to wait for the client's close_notify before dropping the socket.
TLS_SHUTDOWN_TIMEOUT = 2.0
#: How long :meth:`HttpServer.aclose` lets connections close politely before aborting them.
_CLOSE_WAIT = 1.0
#: After this many connections closed, trim the heap (at most once per delay).
_TRIM_AFTER_CLOSED = 8
_TRIM_DELAY = 2.0


class StreamClosed(ServerSideError):
    """The stream or its connection is closed: nothing more can be sent or received on it."""


class BodyTooLarge(ServerSideError):
    """A request body is longer than the limit given to :meth:`RequestBody.read_all`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body is larger than {limit} bytes")


def decode_header_text(value: bytes) -> str:
    """Header bytes as text; undecodable bytes survive the round trip (surrogateescape)."""
    return value.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Request:
    """A request's head: method, path, query and headers (lowercase names, no pseudo-headers)."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    http_version: Literal["1.1", "2"]
    stream_id: int | None
    client: tuple[str, int]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None


class RequestBody:
    """A request body as an async iterator of chunks, in the order and sizes they arrived.

    Iteration ends when the client ends the request and raises :class:`StreamClosed` when the
    client resets the stream or the connection goes away. Each chunk is credited back to the
    client's flow-control window only when the handler takes it.
    """

    def __init__(self, credit: Callable[[int], None]) -> None:
        self._credit = credit
        self._chunks: deque[bytes] = deque()
        self._ended = False
        self._error: StreamClosed | None = None
        self._discarding = False
        self._waiter: asyncio.Future[None] | None = None
        #: Bytes received and not yet taken by the handler.
        self.buffered = 0

    def __aiter__(self) -> RequestBody:
        return self

    async def __anext__(self) -> bytes:
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        self.buffered -= len(chunk)
        self._credit(len(chunk))
        return chunk

    async def read_all(self, limit: int) -> bytes:
        """The whole body; raises :class:`BodyTooLarge` as soon as it passes ``limit`` bytes."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            parts.append(chunk)
        return b"".join(parts)

    @property
    def ended(self) -> bool:
        """True once the client has sent the whole body (it may not all be consumed yet)."""
        return self._ended

    # -- fed by the connection ------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        if self._discarding:
            self._credit(len(data))
            return
        self._chunks.append(data)
        self.buffered += len(data)
        self._wake()

    def _end(self) -> None:
        self._ended = True
        self._wake()

    def _fail(self, error: StreamClosed) -> None:
        if not self._ended and self._error is None:
            self._error = error
        self._wake()

    def _discard(self) -> None:
        """The handler is done: credit what is buffered and drop whatever else arrives."""
        self._discarding = True
        if self.buffered:
            size, self.buffered = self.buffered, 0
            self._chunks.clear()
            self._credit(size)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class ConnectionControl(abc.ABC):
    """What a handler may do to the connection carrying its request (fault injection)."""

    id: int
    http_version: Literal["1.1", "2"]

    @abc.abstractmethod
    def goaway(self, error_code: int = 0) -> None:
        """HTTP/2: send GOAWAY (last stream = highest processed), close after a short grace.

        HTTP/1.1: close the connection.
        """

    @abc.abstractmethod
    def drop(self) -> None:
        """Abort the TCP connection at once: no GOAWAY, no TLS close_notify."""


class Responder(abc.ABC):
    """Sends one response: headers, data (respecting flow control), then end or reset."""

    connection: ConnectionControl

    def __init__(self, connection: ConnectionControl) -> None:
        self.connection = connection
        self.headers_sent = False
        self.closed = False
        self._closed_event = asyncio.Event()

    @abc.abstractmethod
    async def send_headers(self, status: int, headers: Sequence[tuple[str, str]] = ()) -> None:
        """Send the response status and headers."""

    @abc.abstractmethod
    async def send_data(self, data: bytes) -> None:
        """Send body bytes, waiting for flow-control credit and a drained socket."""

    @abc.abstractmethod
    async def end(self) -> None:
        """End the response (HTTP/2 END_STREAM); sends status 200 first if no headers went out."""

    @abc.abstractmethod
    def reset(self, error_code: int = INTERNAL_ERROR) -> None:
        """HTTP/2: RST_STREAM with ``error_code``. HTTP/1.1: abort the connection."""

    async def wait_closed(self) -> None:
        """Return once the stream is over: ended, reset by either side, or connection lost."""
        await self._closed_event.wait()

    def _mark_closed(self) -> None:
        self.closed = True
        self._closed_event.set()

    def _check_open(self) -> None:
        if self.closed:
            raise StreamClosed("the stream is closed")

    async def _fail_after_error(self) -> None:
        """The handler raised: answer 500 if nothing was sent yet, else reset the stream."""
        if self.closed:
            return
        if not self.headers_sent:
            body = b"internal error in the request handler\n"
            with contextlib.suppress(StreamClosed):
                await self.send_headers(
                    500, [("content-type", "text/plain"), ("content-length", str(len(body)))]
                )
                await self.send_data(body)
                await self.end()
            return
        self.reset(INTERNAL_ERROR)


#: Serves one request: reads ``RequestBody`` and answers through ``Responder``, concurrently.
Handler = Callable[[Request, RequestBody, Responder], Awaitable[None]]


@dataclass(frozen=True)
class ServerOptions:
    """Settings every connection of one server shares."""

    handler: Handler
    max_concurrent_streams: int
    idle_timeout: float
    header_timeout: float = 5.0


class ServerConnection(ConnectionControl):
    """Plumbing shared by the HTTP/2 and HTTP/1.1 connection engines."""

    def __init__(
        self,
        options: ServerOptions,
        transport: asyncio.Transport,
        conn_id: int,
        client: tuple[str, int],
    ) -> None:
        self.id = conn_id
        self.client = client
        self._options = options
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writable: asyncio.Future[None] | None = None
        self._lost = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._header_timer: asyncio.TimerHandle | None = None

    # -- protocol events (forwarded by the listener) -------------------------------------

    @abc.abstractmethod
    def start(self) -> None:
        """The TLS handshake is done: send the connection preface, if any."""

    @abc.abstractmethod
    def data_received(self, data: bytes) -> None:
        """Bytes from the client."""

    def eof_received(self) -> None:
        """The client closed its side."""
        self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """The transport is closed: wake everything that waits on it."""
        self._lost = True
        self._set_idle(False)
        self._awaiting_headers(False)
        self.resume_writing()

    def pause_writing(self) -> None:
        """The transport's write buffer is full."""
        if self._writable is None:
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        """The transport's write buffer drained."""
        waiter, self._writable = self._writable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- helpers for the engines ----------------------------------------------------------

    @property
    def tasks(self) -> set[asyncio.Task[None]]:
        """The handler tasks still running."""
        return self._tasks

    def write(self, data: bytes) -> None:
        """Queue bytes on the transport unless it is closing."""
        if data and not self._lost and not self._transport.is_closing():
            self._transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        while True:
            if self._lost or self._transport.is_closing():
                raise StreamClosed("the connection is closed")
            waiter = self._writable
            if waiter is None:
                return
            await asyncio.shield(waiter)

    def drop(self) -> None:
        """Abort the TCP connection at once: no GOAWAY, no TLS close_notify."""
        log.debug("connection %d: dropped", self.id)
        self._transport.abort()

    def shutdown(self) -> None:
        """The server is closing: say goodbye and close the transport."""
        self._transport.close()

    def start_handler(
        self,
        request: Request,
        body: RequestBody,
        responder: Responder,
        on_done: Callable[[], None],
    ) -> None:
        """Run the handler for one request in its own task."""
        task = self._loop.create_task(self._run_handler(request, body, responder, on_done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_handler(
        self,
        request: Request,
        body: RequestBody,
        responder: Responder,
        on_done: Callable[[], None],
    ) -> None:
        try:
            await self._options.handler(request, body, responder)
        except StreamClosed as exc:
            log.debug("connection %d: %s %s: %s", self.id, request.method, request.path, exc)
        except Exception:
            log.warning(
                "connection %d: handler failed for %s %s",
                self.id,
                request.method,
                request.path,
                exc_info=True,
            )
            await responder._fail_after_error()
        else:
            if not responder.closed:
                with contextlib.suppress(StreamClosed):
                    await responder.end()
        finally:
            body._discard()
            on_done()

    def _set_idle(self, idle: bool) -> None:
        """Start (or stop) the idle timer."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if idle and not self._lost:
            self._idle_timer = self._loop.call_later(self._options.idle_timeout, self._on_idle)

    def _awaiting_headers(self, partial: bool) -> None:
        """A request head has started arriving (``partial``) or is complete/absent.

        The head must be complete within the header timeout of its first byte, so a client
        that trickles headers cannot hold a connection until the idle timeout.
        """
        if not partial or self._lost:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
        elif self._header_timer is None:
            self._header_timer = self._loop.call_later(
                self._options.header_timeout, self._on_header_timeout
            )

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        log.info(
            "connection %d: request headers incomplete after %gs, closing",
            self.id,
            self._options.header_timeout,
        )
        self.drop()

    def _on_idle(self) -> None:
        self._idle_timer = None
        log.debug("connection %d: idle for %gs, closing", self.id, self._options.idle_timeout)
        self.goaway()


class _ConnectionProtocol(asyncio.Protocol):
    """One accepted TCP connection: runs the TLS handshake, then hands over to an engine."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self.engine: ServerConnection | None = None
        self.handshake: asyncio.Task[None] | None = None
        self.lost: asyncio.Future[None] = self._loop.create_future()
        self._raw: asyncio.Transport | None = None
        self._early: list[bytes] = []
        self._early_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        transport.pause_reading()
        if not self._server._register(self):
            transport.abort()
            return
        self.handshake = self._loop.create_task(self._upgrade(transport))

    async def _upgrade(self, raw: asyncio.Transport) -> None:
        try:
            tls = await self._loop.start_tls(
                raw,
                self,
                self._server._ssl,
                server_side=True,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
                ssl_shutdown_timeout=TLS_SHUTDOWN_TIMEOUT,
            )
        except BaseException as exc:
            # ssl.SSLError, resets, handshake timeout (the client's problem) or server shutdown.
            # asyncio does not report a connection lost mid-handshake to us: account for it here;
            # start_tls has already closed the socket.
            log.debug("TLS handshake failed: %r", exc)
            self._gone()
            if not isinstance(exc, Exception):
                raise  # cancelled (server shutdown), KeyboardInterrupt, ...
            return
        if tls is None or self.lost.done():
            return
        sslobj = tls.get_extra_info("ssl_object")
        alpn = sslobj.selected_alpn_protocol() if isinstance(sslobj, ssl.SSLObject) else None
        peer = tls.get_extra_info("peername") or ("", 0)
        self.engine = self._server._make_engine(alpn, tls, (str(peer[0]), int(peer[1])))
        self.engine.start()
        early, self._early = self._early, []
        for data in early:
            self.engine.data_received(data)
        if self._early_eof:
            self.engine.eof_received()

    def data_received(self, data: bytes) -> None:
        if self.engine is None:
            self._early.append(data)  # app data that arrived with the end of the handshake
        else:
            self.engine.data_received(data)

    def eof_received(self) -> bool | None:
        if self.engine is None:
            self._early_eof = True
        else:
            self.engine.eof_received()
        return None

    def pause_writing(self) -> None:
        if self.engine is not None:
            self.engine.pause_writing()

    def resume_writing(self) -> None:
        if self.engine is not None:
            self.engine.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.engine is not None:
            self.engine.connection_lost(exc)
        self._gone()

    def _gone(self) -> None:
        self._server._unregister(self)
        if not self.lost.done():
            self.lost.set_result(None)

    def shutdown(self) -> None:
        """Close politely (GOAWAY / close_notify) or stop the handshake."""
        if self.engine is not None:
            self.engine.shutdown()
        elif self.handshake is not None and not self.handshake.done():
            self.handshake.cancel()
        elif self._raw is not None:
            self._raw.close()

    def abort(self) -> None:
        """Close at once."""
        if self.engine is not None:
            self.engine.drop()
        elif self._raw is not None:
            self._raw.abort()


class HttpServer(AsyncResource):
    """An HTTP/2 + HTTP/1.1 server over TLS, for the local service and for tests.

    Args:
        handler: serves every request.
        tls: the server certificate and key (and the CA clients should trust).
        host: address to listen on (loopback by default).
        port: port to listen on; 0 picks a free one (see :attr:`port` after :meth:`start`).
        max_concurrent_streams: HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS; extra streams are
            refused with RST_STREAM(REFUSED_STREAM).
        idle_timeout: seconds a connection may sit without requests before it is closed.
        header_timeout: seconds a request's headers may take to arrive once they started.
        max_connections: connections served at once; further ones are closed on accept.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        tls: TLSMaterial,
        host: str = "127.0.0.1",
        port: int = 0,
        max_concurrent_streams: int = 100,
        idle_timeout: float = 300.0,
        header_timeout: float = 5.0,
        max_connections: int = 256,
    ) -> None:
        if max_concurrent_streams < 1:
            raise ConfigurationError(
                f"max_concurrent_streams must be at least 1, got {max_concurrent_streams}"
            )
        if idle_timeout <= 0 or header_timeout <= 0:
            raise ConfigurationError(
                f"idle_timeout and header_timeout must be positive, got {idle_timeout} "
                f"and {header_timeout}"
            )
        if max_connections < 1:
            raise ConfigurationError(f"max_connections must be at least 1, got {max_connections}")
        if not 0 <= port <= 65535:
            raise ConfigurationError(f"port must be between 0 and 65535, got {port}")
        self.host = host
        self.port = port
        self.tls = tls
        self._options = ServerOptions(handler, max_concurrent_streams, idle_timeout, header_timeout)
        self.max_connections = max_connections
        self._ssl = tls.server_ssl_context()
        self._listener: asyncio.Server | None = None
        self._protocols: set[_ConnectionProtocol] = set()
        self._ids = itertools.count(1)
        self._closing: asyncio.Task[None] | None = None
        #: TCP connections accepted so far.
        self.connections_total = 0
        #: TCP connections closed on accept because ``max_connections`` were open.
        self.connections_refused = 0
        self._closed_since_trim = 0
        self._trim_timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<HttpServer {self.url} connections={self.active_connections}>"

    @property
    def url(self) -> str:
        """``https://host:port`` (IPv6 addresses in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def active_connections(self) -> int:
        """Connections open right now (including ones still in the TLS handshake)."""
        return len(self._protocols)

    async def start(self) -> None:
        """Start listening."""
        if self._closing is not None:
            raise StreamStateError("the server is closed")
        if self._listener is not None:
            return
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: _ConnectionProtocol(self), self.host, self.port
        )
        self.port = self._listener.sockets[0].getsockname()[1]
        log.debug("listening on %s", self.url)

    async def aclose(self) -> None:
        """Stop listening, close every connection and cancel its handlers. Idempotent."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self._trim_timer is not None:
            self._trim_timer.cancel()
            self._trim_timer = None
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
        protocols = list(self._protocols)
        for proto in protocols:
            proto.shutdown()
        tasks = [t for p in protocols for t in _tasks_of(p)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pending = [p.lost for p in protocols if not p.lost.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=_CLOSE_WAIT)
            if still:
                for proto in protocols:
                    if not proto.lost.done():
                        proto.abort()
                await asyncio.wait(still, timeout=_CLOSE_WAIT)
        # let the transports run their final callbacks (socket close) before we return
        for _ in range(3):
            await asyncio.sleep(0)

    async def _enter(self) -> None:
        await self.start()

    # -- for the connection protocol ---------------------------------------------------------

    def _register(self, proto: _ConnectionProtocol) -> bool:
        """Track a new connection; False when it must be closed at once."""
        self.connections_total += 1
        if self._closing is not None:
            return False
        if len(self._protocols) >= self.max_connections:
            self.connections_refused += 1
            log.warning("refusing a connection: %d connections open", len(self._protocols))
            return False
        self._protocols.add(proto)
        return True

    def _unregister(self, proto: _ConnectionProtocol) -> None:
        self._protocols.discard(proto)
        self._closed_since_trim += 1
        if self._trim_timer is None and self._closed_since_trim >= _TRIM_AFTER_CLOSED:
            loop = asyncio.get_running_loop()
            self._trim_timer = loop.call_later(_TRIM_DELAY, self._trim)

    def _trim(self) -> None:
        """Connections went away: hand their freed buffers back to the operating system."""
        self._trim_timer = None
        self._closed_since_trim = 0
        trim_heap()

    def _make_engine(
        self, alpn: str | None, transport: asyncio.Transport, client: tuple[str, int]
    ) -> ServerConnection:
        # The engines build on this module's types, so they are imported when first needed.
        from polly_pipeline.local.http1 import H1Connection  # noqa: PLC0415
        from polly_pipeline.local.http2 import H2Connection  # noqa: PLC0415

        conn_id = next(self._ids)
        if alpn == "h2":
            return H2Connection(self._options, transport, conn_id, client)
        return H1Connection(self._options, transport, conn_id, client)


def _tasks_of(proto: _ConnectionProtocol) -> list[asyncio.Task[None]]:
    tasks = list(proto.engine.tasks) if proto.engine is not None else []
    if proto.handshake is not None:
        tasks.append(proto.handshake)
    return tasks
