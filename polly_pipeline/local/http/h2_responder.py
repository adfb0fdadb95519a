"""Local service layer (HTTP server): the response side of one HTTP/2 stream."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import h2.exceptions

from polly_pipeline.errors import StreamStateError
from polly_pipeline.local.http.types import INTERNAL_ERROR, RequestBody, Responder, StreamClosed

if TYPE_CHECKING:
    from polly_pipeline.local.http.http2 import H2Connection

__all__ = ["H2Responder"]


class H2Responder(Responder):
    """The response side of one HTTP/2 stream."""

    connection: H2Connection

    def __init__(self, connection: H2Connection, stream_id: int, body: RequestBody) -> None:
        super().__init__(connection)
        self.stream_id = stream_id
        self.reset_sent = False
        self.reset_received = False
        self.ended = False
        self._body = body

    async def send_headers(self, status: int, headers: Sequence[tuple[str, str]] = ()) -> None:
        """Send ``:status`` and the headers (names are lowercased)."""
        self._check_open()
        if self.headers_sent:
            raise StreamStateError("response headers were already sent")
        block = [
            (":status", str(status)),
            *((n.lower(), v) for n, v in self.with_defaults(headers)),
        ]
        conn = self.connection
        try:
            conn.h2.send_headers(self.stream_id, block)
        except h2.exceptions.ProtocolError as exc:
            raise StreamClosed(f"cannot send headers: {exc}") from exc
        self.headers_sent = True
        conn.flush()
        await conn.drain()

    async def send_data(self, data: bytes) -> None:
        """Send ``data`` as the client's windows allow (sends status 200 first if needed)."""
        if not self.headers_sent:
            await self.send_headers(200)
        conn = self.connection
        view = memoryview(data)
        while view:
            self._check_open()
            window = conn.send_window(self.stream_id)
            if window == 0:
                await conn.wait_flow()
                continue
            piece, view = view[:window], view[window:]
            try:
                conn.h2.send_data(self.stream_id, piece.tobytes())
            except h2.exceptions.ProtocolError as exc:
                raise StreamClosed(f"cannot send data: {exc}") from exc
            conn.flush()
            await conn.drain()

    async def end(self) -> None:
        """END_STREAM (after status 200 if no headers were sent)."""
        if self.ended:
            return
        if not self.headers_sent:
            await self.send_headers(200)
        self._check_open()
        conn = self.connection
        try:
            conn.h2.end_stream(self.stream_id)
        except h2.exceptions.ProtocolError as exc:
            raise StreamClosed(f"cannot end the stream: {exc}") from exc
        self.ended = True
        self.mark_closed()
        conn.flush()

    def reset(self, error_code: int = INTERNAL_ERROR) -> None:
        """RST_STREAM with ``error_code``."""
        if self.closed:
            return
        conn = self.connection
        with contextlib.suppress(h2.exceptions.ProtocolError):  # already closed on h2's side
            conn.h2.reset_stream(self.stream_id, error_code)
        self.reset_sent = True
        self.mark_closed()
        self._body.set_exception(StreamClosed("the stream was reset by the server"))
        conn.flush()
        conn._wake_flow()
        conn._maybe_forget(self.stream_id)
