"""Local service layer (HTTP server): the HTTP/1.1 connection engine (h11, sans-IO).

Serves the same :data:`~polly_pipeline.local.http.Handler` as HTTP/2, one request at a time
with keep-alive. A request body streams to the handler as it arrives; socket reads pause while
more than :data:`READ_HIGH_WATER` bytes wait unconsumed. Responses without a Content-Length use
chunked transfer coding.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import h11

from polly_pipeline.errors import StreamStateError
from polly_pipeline.local.http.connection import ServerConnection
from polly_pipeline.local.http.types import (
    INTERNAL_ERROR,
    Request,
    RequestBody,
    Responder,
    ServerOptions,
    StreamClosed,
    decode_header_text,
)

__all__ = ["READ_HIGH_WATER", "H1Connection", "H1Responder"]

log = logging.getLogger(__name__)

#: Unconsumed request body bytes above which socket reads pause.
READ_HIGH_WATER = 256 * 1024


def _enc(value: str) -> bytes:
    return value.encode("utf-8")


class H1Connection(ServerConnection):
    """One HTTP/1.1 connection: h11 state machine and one exchange at a time."""

    http_version = "1.1"

    def __init__(
        self,
        options: ServerOptions,
        transport: asyncio.Transport,
        conn_id: int,
        client: tuple[str, int],
    ) -> None:
        super().__init__(options, transport, conn_id, client)
        self.h11 = h11.Connection(h11.SERVER)
        self._current: H1Responder | None = None
        self._handler_running = False
        self._buffered = 0
        self._h11_paused = False
        self._reading = True

    def start(self) -> None:
        """Nothing to send first; wait for a request."""
        self._set_idle(True)

    def data_received(self, data: bytes) -> None:
        """Feed bytes to h11 and act on the events."""
        self.h11.receive_data(data)
        self._process()
        # a request head has started but is not complete yet: it must finish in time
        self._awaiting_headers(self._current is None and bool(self.h11.trailing_data[0]))

    def eof_received(self) -> None:
        """The client closed its side."""
        self.h11.receive_data(b"")
        self._process()
        self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail the exchange in progress."""
        super().connection_lost(exc)
        self._fail_current("the connection was lost")

    def goaway(self, error_code: int = 0) -> None:
        """HTTP/1.1 has no GOAWAY: close the connection."""
        self._fail_current("the connection is closing")
        self._transport.close()

    def shutdown(self) -> None:
        """Server shutdown: close now."""
        self.goaway()

    # -- events ------------------------------------------------------------------------------

    def _process(self) -> None:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._bad_request(exc)
                return
            if event is h11.NEED_DATA:
                break
            if event is h11.PAUSED:
                if not self._next_cycle():
                    self._h11_paused = True
                    self._update_reading()
                    break
                continue
            if isinstance(event, h11.Request):
                self._on_request(event)
            elif isinstance(event, h11.Data):
                if self._current is not None:
                    self._buffered += len(event.data)
                    self._current.body.feed_data(bytes(event.data))
                    self._update_reading()
            elif isinstance(event, h11.EndOfMessage):
                if self._current is not None:
                    self._current.body.feed_eof()
                self._next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                self._fail_current("the client closed the connection")
                self._transport.close()
                break

    def _on_request(self, event: h11.Request) -> None:
        target = decode_header_text(bytes(event.target))
        path, _, query = target.partition("?")
        request = Request(
            method=decode_header_text(bytes(event.method)),
            path=path,
            query=query,
            headers=tuple(
                (decode_header_text(bytes(n)), decode_header_text(bytes(v)))
                for n, v in event.headers
            ),
            http_version="1.1",
            stream_id=None,
            client=self.client,
        )
        body = RequestBody(self._consumed)
        self._current = H1Responder(self, body)
        self._handler_running = True
        self._set_idle(False)
        if self.h11.they_are_waiting_for_100_continue:
            self.write(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        self.start_handler(request, body, self._current, self._handler_done)

    def _handler_done(self) -> None:
        self._handler_running = False
        if not self._next_cycle():
            return
        self._process()  # a pipelined request may already be buffered

    def _next_cycle(self) -> bool:
        """Start the next request/response cycle if this one is over on both sides."""
        if self._current is None or self._handler_running:
            return False
        ours, theirs = self.h11.our_state, self.h11.their_state
        if ours is h11.DONE and theirs is h11.DONE:
            self.h11.start_next_cycle()
            self._current = None
            self._buffered = 0
            self._h11_paused = False
            self._update_reading()
            self._set_idle(True)
            return True
        if ours in (h11.MUST_CLOSE, h11.CLOSED, h11.ERROR) or theirs in (
            h11.MUST_CLOSE,
            h11.CLOSED,
            h11.ERROR,
        ):
            self._transport.close()
        return False

    def _bad_request(self, exc: h11.RemoteProtocolError) -> None:
        log.info("connection %d: bad HTTP/1.1 request: %s", self.id, exc)
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            try:
                reply = h11.Response(
                    status_code=exc.error_status_hint,
                    headers=[("content-length", "0"), ("connection", "close")],
                )
                self.write(self.h11.send(reply) or b"")
                self.write(self.h11.send(h11.EndOfMessage()) or b"")
            except h11.LocalProtocolError:
                pass
        self._fail_current("bad request")
        self._transport.close()

    def _fail_current(self, why: str) -> None:
        if self._current is not None:
            self._current.body.set_exception(StreamClosed(why))
            self._current.mark_closed()

    # -- backpressure ----------------------------------------------------------------------

    def _consumed(self, size: int) -> None:
        self._buffered = max(0, self._buffered - size)
        self._update_reading()

    def _update_reading(self) -> None:
        want = not self._h11_paused and self._buffered < READ_HIGH_WATER
        if want == self._reading or self._lost or self._transport.is_closing():
            return
        self._reading = want
        if want:
            self._transport.resume_reading()
        else:
            self._transport.pause_reading()


class H1Responder(Responder):
    """The response to one HTTP/1.1 request."""

    connection: H1Connection

    def __init__(self, connection: H1Connection, body: RequestBody) -> None:
        super().__init__(connection)
        self.body = body
        self._ended = False

    async def send_headers(self, status: int, headers: Sequence[tuple[str, str]] = ()) -> None:
        """Send the status line and headers (chunked coding unless a Content-Length is given)."""
        self._check_open()
        if self.headers_sent:
            raise StreamStateError("response headers were already sent")
        conn = self.connection
        reply = h11.Response(
            status_code=status,
            headers=[(_enc(n.lower()), _enc(v)) for n, v in self.with_defaults(headers)],
        )
        conn.write(conn.h11.send(reply) or b"")
        self.headers_sent = True
        await conn.drain()

    async def send_data(self, data: bytes) -> None:
        """Send body bytes once the socket has drained (sends status 200 first if needed)."""
        if not self.headers_sent:
            await self.send_headers(200)
        self._check_open()
        if not data:
            return
        conn = self.connection
        conn.write(conn.h11.send(h11.Data(data=data)) or b"")
        await conn.drain()

    async def end(self) -> None:
        """Finish the response (status 200 with an empty body if nothing was sent)."""
        if self._ended:
            return
        if not self.headers_sent:
            await self.send_headers(200, [("content-length", "0")])
        self._check_open()
        conn = self.connection
        conn.write(conn.h11.send(h11.EndOfMessage()) or b"")
        self._ended = True
        self.mark_closed()

    def reset(self, error_code: int = INTERNAL_ERROR) -> None:
        """HTTP/1.1 cannot reset one exchange: abort the connection."""
        if self.closed:
            return
        self.mark_closed()
        self.body.set_exception(StreamClosed("the exchange was aborted by the server"))
        self.connection.drop()
