"""Local service layer (HTTP server): what a request handler sees.

A :data:`Handler` gets the request's head (:class:`Request`), its body as an async iterator
(:class:`RequestBody`, credited back to the client only as it is consumed) and a
:class:`Responder` whose :meth:`~Responder.send_data` waits for the client's flow-control
windows and the socket instead of buffering. The same shapes serve HTTP/2 and HTTP/1.1.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from polly_pipeline._aio import TaskSet
from polly_pipeline.errors import ServerSideError

log = logging.getLogger("polly_pipeline.local.http")

__all__ = [
    "INTERNAL_ERROR",
    "BodyTooLarge",
    "ConnectionControl",
    "Handler",
    "Request",
    "RequestBody",
    "Responder",
    "ServerOptions",
    "StreamClosed",
    "decode_header_text",
    "serve_request",
]

#: HTTP/2 error code INTERNAL_ERROR (RFC 9113 section 7).
INTERNAL_ERROR = 2


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

    # -- the engine's side: fed by the connection (HTTP/2, HTTP/1.1 or in memory), like
    # asyncio.StreamReader's feed_data / feed_eof; handlers never call these ----------------

    def feed_data(self, data: bytes) -> None:
        """Deliver a piece of the request body (credited at once while discarding)."""
        if self._discarding:
            self._credit(len(data))
            return
        self._chunks.append(data)
        self.buffered += len(data)
        self._wake()

    def feed_eof(self) -> None:
        """The client ended the body."""
        self._ended = True
        self._wake()

    def set_exception(self, error: StreamClosed) -> None:
        """The exchange broke before the body ended: the next read raises ``error``."""
        if not self._ended and self._error is None:
            self._error = error
        self._wake()

    def discard(self) -> None:
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
    #: Headers every response of this exchange carries after the handler's own (a server's
    #: ``date``, say); a name the handler sets itself is not repeated.
    default_headers: Sequence[tuple[str, str]] = ()

    def __init__(self, connection: ConnectionControl) -> None:
        self.connection = connection
        self.headers_sent = False
        self.closed = False
        self._closed_event = asyncio.Event()

    @abc.abstractmethod
    async def send_headers(self, status: int, headers: Sequence[tuple[str, str]] = ()) -> None:
        """Send the response status and headers."""

    def with_defaults(self, headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """``headers`` and the :attr:`default_headers` they do not set (for the engines)."""
        named = {name.lower() for name, _ in headers}
        return [*headers, *((n, v) for n, v in self.default_headers if n.lower() not in named)]

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

    def mark_closed(self) -> None:
        """The engine's side: the stream is over (ended, reset or its connection lost)."""
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


async def serve_request(
    handler: Handler, request: Request, body: RequestBody, responder: Responder, *, where: str
) -> None:
    """Run ``handler`` for one exchange, as every engine does.

    A handler that returns without ending its response gets it ended; one that raises gets a
    500 (or a reset once headers are out) and a warning in the log naming ``where`` and the
    request; a closed stream is routine (debug). Whatever of the body is left is discarded.
    """
    try:
        await handler(request, body, responder)
    except StreamClosed as exc:
        log.debug("%s: %s %s: %s", where, request.method, request.path, exc)
    except Exception:
        log.warning(
            "%s: handler failed for %s %s", where, request.method, request.path, exc_info=True
        )
        await responder._fail_after_error()
    else:
        if not responder.closed:
            with contextlib.suppress(StreamClosed):
                await responder.end()
    finally:
        body.discard()


@dataclass(frozen=True)
class ServerOptions:
    """Settings every connection of one server shares, and the owner of their tasks."""

    handler: Handler
    max_concurrent_streams: int
    idle_timeout: float
    header_timeout: float = 5.0
    #: every TLS handshake and request handler of the server's connections (closed with it)
    tasks: TaskSet = field(default_factory=lambda: TaskSet(log))
