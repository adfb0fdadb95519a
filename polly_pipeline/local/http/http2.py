"""Local service layer (HTTP server): the HTTP/2 connection engine (h2, sans-IO).

Every stream gets its own handler task as soon as its HEADERS arrive. Request DATA is credited
back to the client per stream only as the handler consumes it (the connection window is kept
wide open, so one slow stream cannot starve the others); responses wait for the client's
windows. Streams beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused one by one with
RST_STREAM(REFUSED_STREAM) instead of h2's connection-wide PROTOCOL_ERROR.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from h2.errors import ErrorCodes
from h2.settings import SettingCodes, Settings

from polly_pipeline.local.http import redact  # noqa: F401  (installs the hpack log filter)
from polly_pipeline.local.http.connection import ServerConnection
from polly_pipeline.local.http.h2_headers import malformed_request
from polly_pipeline.local.http.h2_responder import H2Responder
from polly_pipeline.local.http.types import (
    Request,
    RequestBody,
    ServerOptions,
    StreamClosed,
    decode_header_text,
)

__all__ = ["GOAWAY_GRACE", "H2Connection"]

log = logging.getLogger(__name__)


#: Per-stream receive window: how much request body may wait unconsumed per stream.
STREAM_WINDOW = 256 * 1024
#: Connection receive window (credited on arrival; the stream windows do the limiting).
CONNECTION_WINDOW = 16 * 1024 * 1024
#: Seconds between sending GOAWAY and closing the connection.
GOAWAY_GRACE = 0.25
_MAX_HEADER_LIST_SIZE = 64 * 1024
#: HEADERS and CONTINUATION frame types (RFC 9113 section 6).
_HEADER_FRAME_TYPES = (0x1, 0x9)
#: What h2 itself enforces; the advertised limit is enforced per stream by this engine.
_H2_STREAM_LIMIT = 2**31 - 1


@dataclass
class _Stream:
    body: RequestBody
    responder: H2Responder
    handler_done: bool = False
    remote_closed: bool = False
    uncredited: int = 0

    @property
    def is_open(self) -> bool:
        """Open in the HTTP/2 sense (counts against SETTINGS_MAX_CONCURRENT_STREAMS)."""
        responder = self.responder
        if responder.reset_sent or responder.reset_received:
            return False
        return not (self.remote_closed and responder.ended)


class H2Connection(ServerConnection):
    """One HTTP/2 connection: h2 state machine, streams, flow control and GOAWAY."""

    http_version = "2"

    def __init__(
        self,
        options: ServerOptions,
        transport: asyncio.Transport,
        conn_id: int,
        client: tuple[str, int],
    ) -> None:
        super().__init__(options, transport, conn_id, client)
        # h2 would answer a malformed header block with a connection error (GOAWAY); the
        # engine checks requests itself and resets only the offending stream (RFC 9113 8.1.1)
        config = h2.config.H2Configuration(
            client_side=False, header_encoding=None, validate_inbound_headers=False
        )
        self.h2 = h2.connection.H2Connection(config)
        self._streams: dict[int, _Stream] = {}
        self._flow_waiters: set[asyncio.Future[None]] = set()
        self._conn_uncredited = 0
        self._goaway_sent = False
        self._close_timer: asyncio.TimerHandle | None = None

    # -- connection events -----------------------------------------------------------------

    def start(self) -> None:
        """Send our SETTINGS and open the connection-level receive window."""
        advertised = {
            SettingCodes.MAX_CONCURRENT_STREAMS: self._options.max_concurrent_streams,
            SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            SettingCodes.MAX_HEADER_LIST_SIZE: _MAX_HEADER_LIST_SIZE,
        }
        self.h2.local_settings = Settings(client=False, initial_values=advertised)
        self.h2.initiate_connection()
        # h2 would answer one stream too many with a connection error (GOAWAY); keep its own
        # limit out of the way and refuse extra streams individually in _on_request instead.
        enforced = {**advertised, SettingCodes.MAX_CONCURRENT_STREAMS: _H2_STREAM_LIMIT}
        self.h2.local_settings = Settings(client=False, initial_values=enforced)
        self.h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self.flush()
        self._set_idle(True)

    def data_received(self, data: bytes) -> None:
        """Feed bytes to h2 and act on the events."""
        if self._goaway_sent:
            return  # closing: nothing the client says matters any more
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            log.info("connection %d: HTTP/2 protocol error from the client: %s", self.id, exc)
            self._goaway_sent = True
            self.flush()  # h2 queued a GOAWAY
            self._fail_streams("the connection failed: HTTP/2 protocol error")
            self._transport.close()
            return
        for event in events:
            self._dispatch(event)
        self._awaiting_headers(self._head_in_progress())
        self.flush()

    def _head_in_progress(self) -> bool:
        """True while h2 holds part of a HEADERS frame or of a header block (CONTINUATION).

        h2 exposes no API for what it buffers, so this reads its frame buffer; a partial frame
        whose type is not known yet counts as a header frame.
        """
        buffer = self.h2.incoming_buffer
        if getattr(buffer, "_headers_buffer", None):
            return True
        data = bytes(getattr(buffer, "_data", getattr(buffer, "data", b"")))[:4]
        return bool(data) and (len(data) < 4 or data[3] in _HEADER_FRAME_TYPES)

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail every open stream and wake every waiter."""
        super().connection_lost(exc)
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._fail_streams("the connection was lost")
        self._wake_flow()

    def shutdown(self) -> None:
        """Server shutdown: GOAWAY and close now."""
        if not self._goaway_sent and not self._lost:
            self._send_goaway(0)
        self._fail_streams("the server is shutting down")
        self._transport.close()

    def goaway(self, error_code: int = 0, *, grace: float = GOAWAY_GRACE) -> None:
        """Send GOAWAY (last stream id = highest processed) and close after ``grace`` seconds.

        Open streams end with the connection: h2 cannot send on them after GOAWAY.
        """
        if self._goaway_sent or self._lost:
            return
        log.debug("connection %d: GOAWAY (error code %d)", self.id, error_code)
        self._send_goaway(error_code)
        self._fail_streams("the connection is closing (GOAWAY sent)")
        self._set_idle(False)
        self._close_timer = self._loop.call_later(grace, self._transport.close)

    def _send_goaway(self, error_code: int) -> None:
        self._goaway_sent = True
        self.h2.close_connection(
            error_code=error_code, last_stream_id=self.h2.highest_inbound_stream_id
        )
        self.flush()

    def flush(self) -> None:
        """Write whatever h2 has queued."""
        self.write(self.h2.data_to_send())

    # -- events ------------------------------------------------------------------------------

    def _dispatch(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._on_request(event)
        elif isinstance(event, h2.events.DataReceived):
            self._on_data(event)
        elif isinstance(event, h2.events.StreamEnded):
            self._on_remote_end(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self._on_reset(event.stream_id, event.error_code)
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self._wake_flow()
        elif isinstance(event, h2.events.ConnectionTerminated):
            log.debug("connection %d: client sent GOAWAY", self.id)
            self._goaway_sent = True  # no new streams either way
            self._fail_streams("the client closed the connection (GOAWAY)")
            self._transport.close()

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None
        # Count our own open streams: h2 has already parsed the whole batch of frames (later
        # streams included), so its own count would refuse the wrong stream.
        open_streams = sum(1 for st in self._streams.values() if st.is_open)
        if open_streams >= self._options.max_concurrent_streams:
            log.debug("connection %d: refusing stream %d", self.id, stream_id)
            self.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        block = [
            (decode_header_text(bytes(name)), decode_header_text(bytes(value)))
            for name, value in event.headers or ()
        ]
        problem = malformed_request(block)
        if problem is not None:
            log.info(
                "connection %d: malformed request on stream %d: %s", self.id, stream_id, problem
            )
            self.h2.reset_stream(stream_id, ErrorCodes.PROTOCOL_ERROR)
            return
        pseudo: dict[str, str] = {}
        headers: list[tuple[str, str]] = []
        for name, value in block:
            if name.startswith(":"):
                pseudo[name] = value
            else:
                headers.append((name, value))
        authority = pseudo.get(":authority")
        if authority is not None and not any(n == "host" for n, _ in headers):
            headers.insert(0, ("host", authority))
        path, _, query = pseudo.get(":path", "/").partition("?")
        request = Request(
            method=pseudo.get(":method", ""),
            path=path,
            query=query,
            headers=tuple(headers),
            http_version="2",
            stream_id=stream_id,
            client=self.client,
        )
        body = RequestBody(lambda size: self._credit_stream(stream_id, size))
        stream = _Stream(body, H2Responder(self, stream_id, body))
        self._streams[stream_id] = stream
        self._set_idle(False)
        self.start_handler(request, body, stream.responder, lambda: self._handler_done(stream_id))

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None
        data = bytes(event.data or b"")
        flow = event.flow_controlled_length or 0
        self._credit_connection(flow)
        stream = self._streams.get(stream_id)
        if stream is None:
            self._credit_stream(stream_id, flow)
            return
        if flow > len(data):
            self._credit_stream(stream_id, flow - len(data))  # padding is never "consumed"
        if data:
            stream.body.feed_data(data)

    def _on_remote_end(self, stream_id: int | None) -> None:
        stream = self._streams.get(stream_id or 0)
        if stream is not None:
            stream.remote_closed = True
            stream.body.feed_eof()
            self._maybe_forget(stream_id or 0)

    def _on_reset(self, stream_id: int | None, error_code: int | None) -> None:
        stream = self._streams.get(stream_id or 0)
        if stream is None:
            return
        log.debug("connection %d: client reset stream %s (%s)", self.id, stream_id, error_code)
        stream.remote_closed = True
        stream.responder.reset_received = True
        stream.body.set_exception(
            StreamClosed(f"the client reset the stream (error code {error_code})")
        )
        stream.responder.mark_closed()
        self._wake_flow()
        self._maybe_forget(stream_id or 0)

    def _handler_done(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.handler_done = True
        responder = stream.responder
        if (
            responder.ended
            and not stream.remote_closed
            and not (responder.reset_sent or responder.reset_received)
            and not (self._goaway_sent or self._lost)
        ):
            # RFC 9113 section 8.1: the response is complete before the request is; ask the
            # client to stop sending without error (clients waiting to finish their body
            # would otherwise wait forever)
            log.debug(
                "connection %d: early response on stream %d, RST_STREAM(NO_ERROR)",
                self.id,
                stream_id,
            )
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.h2.reset_stream(stream_id, ErrorCodes.NO_ERROR)
            responder.reset_sent = True
            self.flush()
        self._maybe_forget(stream_id)

    def _maybe_forget(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None or not stream.handler_done:
            return
        if stream.remote_closed or stream.responder.reset_sent or self._goaway_sent or self._lost:
            del self._streams[stream_id]
            if not self._streams and not self._goaway_sent:
                self._set_idle(True)

    def _fail_streams(self, why: str) -> None:
        for stream in self._streams.values():
            stream.body.set_exception(StreamClosed(why))
            stream.responder.mark_closed()
        self._wake_flow()

    # -- flow control --------------------------------------------------------------------------

    def _credit_connection(self, size: int) -> None:
        self._conn_uncredited += size
        if self._conn_uncredited >= CONNECTION_WINDOW // 4 and not self._goaway_sent:
            size, self._conn_uncredited = self._conn_uncredited, 0
            with contextlib.suppress(h2.exceptions.ProtocolError):  # the connection is closing
                self.h2.increment_flow_control_window(size)

    def _credit_stream(self, stream_id: int, size: int) -> None:
        """The handler consumed ``size`` bytes: give the client room for more (batched)."""
        if size <= 0 or self._goaway_sent or self._lost:
            return
        stream = self._streams.get(stream_id)
        pending = size + (stream.uncredited if stream is not None else 0)
        if stream is not None and pending < STREAM_WINDOW // 4:
            stream.uncredited = pending
            return
        if stream is not None:
            stream.uncredited = 0
        try:
            self.h2.increment_flow_control_window(pending, stream_id=stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            return  # the stream is over; nothing to credit
        self.flush()

    def send_window(self, stream_id: int) -> int:
        """How many bytes of DATA may go out on the stream now (0 when blocked)."""
        try:
            window = self.h2.local_flow_control_window(stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as exc:
            raise StreamClosed("the stream is closed") from exc
        return max(0, min(window, self.h2.max_outbound_frame_size))

    async def wait_flow(self) -> None:
        """Wait for a WINDOW_UPDATE, a SETTINGS change or a stream/connection closing."""
        waiter = self._loop.create_future()
        self._flow_waiters.add(waiter)
        try:
            await waiter
        finally:
            self._flow_waiters.discard(waiter)

    def _wake_flow(self) -> None:
        for waiter in self._flow_waiters:
            if not waiter.done():
                waiter.set_result(None)
