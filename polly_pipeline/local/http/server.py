"""Local service layer (HTTP server): a small HTTP/2 + HTTP/1.1 server over TLS (asyncio, h2, h11).

One :data:`~polly_pipeline.local.http.Handler` serves every request, whichever protocol ALPN
picked: HTTP/2 (``h2``, each stream in its own task as soon as its HEADERS arrive, so request
and response bodies flow at the same time) or HTTP/1.1 (``http/1.1`` or no ALPN; keep-alive,
one request at a time). The protocol engines live in :mod:`.http2` and :mod:`.http1`; this
module holds the listener: TLS handshake, the connection cap, shutdown.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl

from polly_pipeline._aio import AsyncResource
from polly_pipeline.errors import ConfigurationError, StreamStateError
from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.http.connection import ServerConnection
from polly_pipeline.local.http.memory import trim_heap
from polly_pipeline.local.http.types import Handler, ServerOptions

__all__ = ["HttpServer"]

log = logging.getLogger("polly_pipeline.local.http")

#: How long a client may take to complete the TLS handshake.
HANDSHAKE_TIMEOUT = 10.0
#: How long to wait for the client's close_notify before dropping the socket.
TLS_SHUTDOWN_TIMEOUT = 2.0
#: How long :meth:`HttpServer.aclose` lets connections close politely before aborting them.
_CLOSE_WAIT = 1.0
#: After this many connections closed, trim the heap (at most once per delay).
_TRIM_AFTER_CLOSED = 8
_TRIM_DELAY = 2.0


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
        self.handshake = self._server._options.tasks.start(
            self._upgrade(transport), name="polly-local-handshake"
        )

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
        # every handshake and handler, also those of connections already gone
        await self._options.tasks.aclose()
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
        from polly_pipeline.local.http.http1 import H1Connection  # noqa: PLC0415
        from polly_pipeline.local.http.http2 import H2Connection  # noqa: PLC0415

        conn_id = next(self._ids)
        if alpn == "h2":
            return H2Connection(self._options, transport, conn_id, client)
        return H1Connection(self._options, transport, conn_id, client)
