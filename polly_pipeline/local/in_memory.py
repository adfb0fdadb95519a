"""Local service layer: an in-memory transport wired straight to the service's request handler.

No sockets, no TLS, no HTTP/2 framing: :class:`InMemoryTransport` hands each request to the
handler the HTTP server would call (the same :class:`Request`, :class:`RequestBody` and
:class:`Responder` shapes), so the client's signing, the event-stream codec, the service's
signature checks, limits, voice and faults all run as they do over TLS, in milliseconds::

    service = LocalPollyService()
    async with memory_client(service) as client:  # no start(): nothing listens
        async for audio in client.start_speech_synthesis_stream(text="Hi.", voice_id="Joanna"):
            ...

Faults map to what a client sees on a real connection: a reset to
:class:`~polly_pipeline.errors.StreamResetError`, GOAWAY or a drop to
:class:`~polly_pipeline.errors.ConnectionClosedError` for every exchange of that connection (the
next exchange gets a new one), a stall to the client's own read deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from polly_pipeline._aio import TaskSet
from polly_pipeline.errors import (
    ConnectionClosedError,
    StreamResetError,
    StreamStateError,
    TransportError,
    timeout_error,
)
from polly_pipeline.local.http.types import (
    INTERNAL_ERROR,
    ConnectionControl,
    Handler,
    Request,
    RequestBody,
    Responder,
    StreamClosed,
    serve_request,
)
from polly_pipeline.transport.config import Endpoint, Timeouts
from polly_pipeline.transport.response import Response

if TYPE_CHECKING:
    from polly_pipeline.client.client import PollyStreamingClient
    from polly_pipeline.local.service import LocalPollyService

__all__ = ["InMemoryTransport", "memory_client", "memory_transport"]

log = logging.getLogger(__name__)

#: Request bytes the handler may have unread before the client's body waits (flow control).
WINDOW = 1024 * 1024
#: Response chunks that may wait unread before the handler's send_data waits.
RESPONSE_CHUNKS = 64


class _Connection(ConnectionControl):
    """A pretend connection: GOAWAY and drop end every exchange on it."""

    http_version: Literal["1.1", "2"] = "2"

    def __init__(self, conn_id: int) -> None:
        self.id = conn_id
        self.closed = False
        self.exchanges: set[_Exchange] = set()

    def goaway(self, error_code: int = 0) -> None:
        self._close(f"GOAWAY (error code {error_code}) from the service")

    def drop(self) -> None:
        self._close("the service dropped the connection")

    def _close(self, why: str) -> None:
        self.closed = True
        for exchange in list(self.exchanges):
            exchange.fail(ConnectionClosedError(why))


class _Responder(Responder):
    """Hands the handler's response to the exchange instead of a socket."""

    def __init__(self, connection: _Connection, exchange: _Exchange) -> None:
        super().__init__(connection)
        self._exchange = exchange

    async def send_headers(self, status: int, headers: Sequence[tuple[str, str]] = ()) -> None:
        self._check_open()
        if self.headers_sent:
            raise StreamStateError("response headers were already sent")
        self.headers_sent = True
        clean = tuple((n.lower(), v) for n, v in self.with_defaults(headers))
        self._exchange.deliver_head(Response(status, clean))

    async def send_data(self, data: bytes) -> None:
        if not self.headers_sent:
            await self.send_headers(200)
        self._check_open()
        if data:
            await self._exchange.deliver_chunk(bytes(data))
            self._check_open()

    async def end(self) -> None:
        if self.closed:
            return
        if not self.headers_sent:
            await self.send_headers(200)
        self.mark_closed()
        self._exchange.deliver_end()

    def reset(self, error_code: int = INTERNAL_ERROR) -> None:
        if self.closed:
            return
        self.mark_closed()
        self._exchange.fail(
            StreamResetError(
                f"the service reset the stream (error code {error_code})",
                before_headers=not self.headers_sent,
            )
        )


class _Exchange:
    """One request/response exchange (a :class:`~polly_pipeline.transport.DuplexStream`)."""

    def __init__(
        self,
        connection: _Connection,
        endpoint: Endpoint,
        timeouts: Timeouts,
        *,
        read_deadline: bool = True,
    ) -> None:
        self._conn = connection
        self._endpoint = endpoint
        self._timeouts = timeouts
        self._read_deadline = read_deadline
        self._head: Response | None = None
        self._chunks: deque[bytes] = deque()
        self._ended = False
        self._error: TransportError | None = None
        self._closed = False
        self._changed = asyncio.Event()
        self._drained = asyncio.Event()
        self._unread = 0
        self._window = asyncio.Event()
        self._window.set()
        self.body = RequestBody(self._credit)
        self.responder = _Responder(connection, self)
        #: the handler and the body pump: this exchange's, cancelled and awaited on close
        self.tasks = TaskSet(log)
        self.on_close: Callable[[_Exchange], None] = lambda _: None

    def __repr__(self) -> str:
        return f"<in-memory exchange {self._endpoint} connection={self._conn.id}>"

    # -- fed by the handler -------------------------------------------------------------

    def deliver_head(self, head: Response) -> None:
        self._head = head
        self._changed.set()

    async def deliver_chunk(self, chunk: bytes) -> None:
        while len(self._chunks) >= RESPONSE_CHUNKS and not self._closed:
            self._drained.clear()
            await self._drained.wait()
        if self._closed:
            raise StreamClosed("the client closed the stream")
        self._chunks.append(chunk)
        self._changed.set()

    def deliver_end(self) -> None:
        self._ended = True
        self._changed.set()

    def fail(self, error: TransportError) -> None:
        if self._error is None and not self._ended:
            self._error = error
        self.responder.mark_closed()
        self.body.set_exception(StreamClosed(str(error)))
        self._changed.set()
        self._drained.set()

    # -- the request body -----------------------------------------------------------------

    def _credit(self, size: int) -> None:
        self._unread -= size
        if self._unread <= WINDOW:
            self._window.set()

    async def pump(self, body: AsyncIterator[bytes] | None) -> None:
        """Feed the client's body to the handler, holding it while the handler lags behind."""
        try:
            if body is not None:
                async for chunk in body:
                    if self._error is not None or self.responder.closed:
                        break
                    if chunk:
                        self._unread += len(chunk)
                        if self._unread > WINDOW:
                            self._window.clear()
                        self.body.feed_data(bytes(chunk))
                        await self._window.wait()
            self.body.feed_eof()
        finally:
            closer = getattr(body, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()

    # -- the client side ------------------------------------------------------------------

    async def _wait(self, phase: Literal["response_headers", "read"]) -> None:
        seconds = getattr(self._timeouts, phase)
        self._changed.clear()
        if phase == "read" and not self._read_deadline:
            await self._changed.wait()
            return
        try:
            async with asyncio.timeout(seconds):
                await self._changed.wait()
        except TimeoutError:
            raise timeout_error(phase, seconds, f"nothing from {self._endpoint}") from None

    async def response(self) -> Response:
        while True:
            if self._head is not None:
                return self._head
            self._raise_if_over()
            await self._wait("response_headers")

    def __aiter__(self) -> _Exchange:
        return self

    async def __anext__(self) -> bytes:
        await self.response()
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._drained.set()
                return chunk
            if self._ended:
                raise StopAsyncIteration
            self._raise_if_over()
            await self._wait("read")

    def _raise_if_over(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise StreamStateError("the stream is closed")
        if self.responder.closed and not self._ended:
            raise ConnectionClosedError(f"{self._endpoint} ended the stream without a response")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._conn.exchanges.discard(self)
        self.on_close(self)
        self._chunks.clear()
        self.responder.mark_closed()
        self.body.set_exception(StreamClosed("the client closed the stream"))
        self._drained.set()
        self._changed.set()
        await self.tasks.aclose()


class InMemoryTransport:
    """A :class:`~polly_pipeline.transport.Transport` that calls a request handler directly.

    Args:
        handler: the handler an :class:`HttpServer` would call (see :func:`memory_client` for
            the local Polly service's).
        timeouts: the client side's deadlines (response headers and reads).
    """

    def __init__(self, handler: Handler, *, timeouts: Timeouts | None = None) -> None:
        self._handler = handler
        self._timeouts = timeouts or Timeouts()
        self._ids = itertools.count(1)
        self._conn = _Connection(next(self._ids))
        self._exchanges: set[_Exchange] = set()
        self._closed = False
        #: connections made so far (a new one after each GOAWAY or drop)
        self.connections_created = 1

    def __repr__(self) -> str:
        return f"<InMemoryTransport exchanges={len(self._exchanges)}>"

    @property
    def streams_active(self) -> int:
        """Exchanges opened and not yet closed by the client."""
        return len(self._exchanges)

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
    ) -> _Exchange:
        """Hand the request to the handler and start feeding it ``body``."""
        if self._closed:
            raise StreamStateError("the in-memory transport is closed")
        if self._conn.closed or not use_pool:
            self._conn = _Connection(next(self._ids))
            self.connections_created += 1
        path, _, query = path.partition("?")
        names = [(n.lower(), v) for n, v in headers]
        if not any(n == "host" for n, _ in names):
            names.insert(0, ("host", endpoint.authority))
        request = Request(method, path, query, tuple(names), "2", None, ("memory", 0))
        exchange = _Exchange(self._conn, endpoint, self._timeouts, read_deadline=read_deadline)
        exchange.on_close = self._exchanges.discard
        self._conn.exchanges.add(exchange)
        self._exchanges.add(exchange)
        exchange.tasks.start(self._serve(request, exchange), name="polly-memory-handler")
        exchange.tasks.start(exchange.pump(body), name="polly-memory-pump", on_done=_pumped)
        return exchange

    async def _serve(self, request: Request, exchange: _Exchange) -> None:
        await serve_request(
            self._handler, request, exchange.body, exchange.responder, where="in-memory exchange"
        )

    async def aclose(self) -> None:
        """Close every exchange. Idempotent."""
        self._closed = True
        exchanges = list(self._exchanges)
        await asyncio.gather(*(e.aclose() for e in exchanges), return_exceptions=True)
        self._exchanges.clear()


def _pumped(task: asyncio.Task[None]) -> None:
    """The client's body ended; one that failed ends the request body (debug, not an error)."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("in-memory request body failed: %r", task.exception())


#: The endpoint in-memory clients sign their requests for.
MEMORY_ENDPOINT_URL = "https://polly.in-memory"


def memory_transport(
    service: LocalPollyService, *, timeouts: Timeouts | None = None
) -> InMemoryTransport:
    """A transport wired to ``service``'s request handler (the service need not start).

    For tests that drive the wire themselves (hand-signed frames) or wrap the transport (to
    record the bytes); :func:`memory_client` builds a client on one.
    """
    return InMemoryTransport(service._handle, timeouts=timeouts)


def memory_client(service: LocalPollyService, **kwargs: Any) -> PollyStreamingClient:
    """A client wired to ``service``'s request handler in memory (the service need not start).

    Keyword arguments go to :class:`PollyStreamingClient` (``timeouts`` also to the transport).
    """
    from polly_pipeline.client.client import PollyStreamingClient  # noqa: PLC0415

    timeouts = kwargs.get("timeouts") or Timeouts()
    kwargs.setdefault("region", service.region)
    kwargs.setdefault("endpoint_url", MEMORY_ENDPOINT_URL)
    kwargs.setdefault("credentials", service.credentials)
    kwargs.setdefault("transport", memory_transport(service, timeouts=timeouts))
    return PollyStreamingClient(**kwargs)
