"""Transport layer: one HTTP/2 request/response exchange over awscrt, with a deadline on every wait.

The request body is an async iterator pulled as the connection takes it, or a
:class:`~polly_pipeline.transport.ReadyBody`, written the moment it says it has data (no task
wake-up per chunk; what arrives while a write is pending goes out together at the end of the
loop iteration). Small frames are handed to awscrt without waiting for the previous write,
larger ones are waited for (see :mod:`~polly_pipeline.transport.writes`), so nothing is
buffered far ahead and nothing polls. The stream's state is an
:class:`~polly_pipeline.transport.exchange.ExchangeMachine`.
Response chunks are credited back to the server's window only as the caller consumes them.

awscrt 0.38 cannot reset a client stream (its only in-band way, an input stream that raises,
prints a traceback from a native thread), so abandoning an unfinished stream closes its
connection when it has it to itself, and otherwise retires the connection: it takes no new
streams and closes once its other streams are done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future as CrtFuture
from typing import Any

from awscrt import http as crt_http

from polly_pipeline._aio import AsyncResource
from polly_pipeline.errors import (
    ConnectionClosedError,
    ReadTimeout,
    ResponseHeadersTimeout,
    WriteTimeout,
)
from polly_pipeline.transport.base import ReadyBody
from polly_pipeline.transport.config import Endpoint, Timeouts
from polly_pipeline.transport.connection import Connection
from polly_pipeline.transport.crt import error_name, post, stream_error
from polly_pipeline.transport.exchange import ExchangeMachine
from polly_pipeline.transport.response import Response
from polly_pipeline.transport.waiters import Waiters
from polly_pipeline.transport.writes import AHEAD, StreamOver, Writes

__all__ = ["Http2Stream", "Response"]

log = logging.getLogger(__name__)


class Http2Stream(AsyncResource):
    """One duplex HTTP/2 exchange: the request body flows in while the response flows out.

    Get one from :meth:`ConnectionPool.open_stream`. ``await response()`` for the status and
    headers, ``async for chunk in stream`` for the body, ``aclose()`` (or ``async with``) when
    done: it stops the request body and frees the stream's slot.
    """

    def __init__(
        self,
        connection: Connection,
        endpoint: Endpoint,
        timeouts: Timeouts,
        *,
        on_complete: Callable[[Connection], None],
        on_abandon: Callable[[Connection], bool],
        read_deadline: bool = True,
    ) -> None:
        self._conn = connection
        self._read_timeout = timeouts.read if read_deadline else None
        self._endpoint = endpoint
        self._timeouts = timeouts
        self._on_complete_cb = on_complete
        self._on_abandon_cb = on_abandon
        self._loop = asyncio.get_running_loop()
        self._crt: Any = None  # awscrt.http.Http2ClientStream
        self._response: Response | None = None
        self._chunks: deque[bytes] = deque()
        self._machine = ExchangeMachine()
        self._error: BaseException | None = None
        self._waiters = Waiters()
        self._writer: asyncio.Task[None] | None = None
        self._ready: ReadyBody | None = None  # a body written as soon as it has data
        self._push_due = False
        self._writes = Writes(self._loop, timeouts.write, self._write_timed_out)
        self._closed = asyncio.Event()

    def __repr__(self) -> str:
        state = self._machine.state.value
        return f"<Http2Stream {self._endpoint} connection={self._conn.id} {state}>"

    @property
    def connection_id(self) -> int:
        """Which connection carries this stream (ids are unique within the process)."""
        return self._conn.id

    @property
    def completed(self) -> bool:
        """True once awscrt has finished the stream (both sides ended, or it failed)."""
        return self._machine.completed

    # -- starting -----------------------------------------------------------------------------

    def start(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        body: AsyncIterator[bytes] | None,
    ) -> None:
        """Send the request headers (once, by the pool that made the stream).

        The stream holds the slot its connection reserved for it until awscrt completes it;
        if awscrt refuses to start it (the connection is going away), the slot is released
        and awscrt's error raised.
        """
        request = crt_http.HttpRequest(method, path, crt_http.HttpHeaders(list(headers)))
        try:
            stream = self._conn.crt.request(
                request, self._crt_on_response, self._crt_on_body, manual_write=body is not None
            )
        except Exception:
            self._machine.refuse()
            self._conn.release(abandoned=False)
            raise
        stream.completion_future.add_done_callback(self._crt_on_complete)
        stream.remote_end_stream_future.add_done_callback(self._crt_on_remote_end)
        stream.activate()
        self._crt = stream
        self._machine.start(body=body is not None)
        if isinstance(body, ReadyBody):
            self._ready = body
            body.set_listener(self._body_ready)
            self._body_ready()
        elif body is not None:
            self._writer = self._loop.create_task(self._pump(body))

    # -- awscrt callbacks (awscrt threads) ------------------------------------------------------

    def _crt_on_response(
        self, http_stream: Any, status_code: int, headers: list[tuple[str, str]], **_: Any
    ) -> None:
        post(self._loop, self._on_response, status_code, list(headers))

    def _crt_on_body(self, http_stream: Any, chunk: Any, **_: Any) -> None:
        post(self._loop, self._on_body, bytes(chunk))  # copy: the buffer is awscrt's

    def _crt_on_remote_end(self, future: CrtFuture[None]) -> None:
        if future.exception() is None:
            post(self._loop, self._on_remote_end)

    def _crt_on_complete(self, future: CrtFuture[int]) -> None:
        post(self._loop, self._on_complete, future.exception())

    # -- the same, on the loop ----------------------------------------------------------------

    def _on_response(self, status: int, headers: list[tuple[str, str]]) -> None:
        if self._response is None:
            clean = tuple((n.lower(), v) for n, v in headers if not n.startswith(":"))
            self._response = Response(status, clean)
        self._waiters.notify()

    def _on_body(self, chunk: bytes) -> None:
        if not self._machine.receive_body():  # nobody will read it: keep the window open
            self._crt.update_window(len(chunk))
            return
        self._chunks.append(chunk)
        self._waiters.notify()

    def _on_remote_end(self) -> None:
        self._machine.remote_end()
        self._waiters.notify()

    def _on_complete(self, exc: BaseException | None) -> None:
        self._conn.release(abandoned=self._machine.complete())
        if exc is not None and self._error is None:
            error = stream_error(exc, self._endpoint, before_headers=self._response is None)
            error.__cause__ = exc
            self._error = error
            log.debug("stream on connection %d failed: %s", self._conn.id, error_name(exc))
        self._on_complete_cb(self._conn)
        self._waiters.notify()

    # -- the response side ------------------------------------------------------------------

    async def response(self) -> Response:
        """The response status and headers, within ``Timeouts.response_headers``.

        Raises:
            StreamResetError: the server reset the stream first (``before_headers=True``).
            ConnectionClosedError: GOAWAY or the connection dropped first.
            ResponseHeadersTimeout: a NetworkTimeout with ``phase="response_headers"``.
        """
        timeout = self._timeouts.response_headers
        deadline = self._loop.time() + timeout
        while True:
            response = self._response
            if response is not None:
                return response
            if self._error is not None:
                raise self._error
            self._machine.check_read()
            if self._machine.completed:
                raise ConnectionClosedError(f"{self._endpoint} ended the stream without a response")
            notified = await self._waiters.wait(deadline)
            if not notified and self._response is None and self._error is None:
                raise ResponseHeadersTimeout(timeout, f"no response headers from {self._endpoint}")

    def __aiter__(self) -> Http2Stream:
        return self

    async def __anext__(self) -> bytes:
        """The next response body chunk, within ``Timeouts.read`` of asking for it.

        Unbounded for a stream opened with ``read_deadline=False`` (its caller bounds reads).
        """
        await self.response()
        timeout = self._read_timeout
        deadline: float | None = None
        machine = self._machine
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._crt.update_window(len(chunk))
                return chunk
            if machine.response_ended:
                raise StopAsyncIteration
            if self._error is not None:
                raise self._error
            machine.check_read()
            if machine.completed:
                raise ConnectionClosedError(f"{self._endpoint} ended the stream without END_STREAM")
            if deadline is None and timeout is not None:
                deadline = self._loop.time() + timeout
            notified = await self._waiters.wait(deadline)
            if (
                timeout is not None
                and not notified
                and not (self._chunks or machine.response_ended or self._error or machine.completed)
            ):
                raise ReadTimeout(timeout, f"no response data from {self._endpoint}")

    # -- the request side ------------------------------------------------------------------

    async def _pump(self, body: AsyncIterator[bytes]) -> None:
        """Pull the body and hand it to awscrt, staying at most ``AHEAD`` bytes ahead."""
        writes = self._writes
        try:
            async for chunk in body:
                if writes.over:
                    return  # the stream is over; the response side reports why
                if chunk:
                    writes.submit(self._crt, bytes(chunk), end=False)
                    await self._wait_writes(AHEAD)
            await self._end_body()
        except StreamOver:
            pass  # the stream is over; the response side reports why
        except Exception as exc:  # the body iterator raised
            self._fail(exc)
        finally:
            closer = getattr(body, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()

    async def _end_body(self) -> None:
        """End the request (END_STREAM) once the body is over; raises StreamOver."""
        self._writes.submit(self._crt, None, end=True)
        if await self._wait_writes(0):
            self._machine.local_end()

    def _body_ready(self) -> None:
        """A :class:`ReadyBody` has data: write it now if no write is pending, else at the end
        of this loop iteration, so that what is queued meanwhile goes out in one write."""
        if self._push_due or self._writer is not None or self._ready is None:
            return
        if self._writes.pending:
            self._push_due = True
            self._loop.call_soon(self._push)
        else:
            self._push()

    def _push(self) -> None:
        """Hand what the body has ready to awscrt; past ``AHEAD`` bytes behind, a task waits."""
        self._push_due = False
        body = self._ready
        if body is None or self._writer is not None:
            return
        writes = self._writes
        try:
            if writes.over:
                raise StreamOver
            chunk = body.take()
            if chunk:
                writes.submit(self._crt, chunk, end=False)
            if body.complete:
                self._stop_push()
                self._writer = self._loop.create_task(self._finish_push())
            elif writes.behind >= AHEAD:
                self._writer = self._loop.create_task(self._catch_up())
        except StreamOver:
            self._stop_push()  # the stream is over; the response side reports why
        except Exception as exc:  # the body raised
            self._stop_push()
            self._fail(exc)

    async def _catch_up(self) -> None:
        """Wait until the writes are less than ``AHEAD`` bytes behind, then write again."""
        if await self._wait_writes(AHEAD):
            self._writer = None
            self._push()

    async def _finish_push(self) -> None:
        with contextlib.suppress(StreamOver):
            await self._end_body()

    def _stop_push(self) -> None:
        if self._ready is not None:
            self._ready.set_listener(None)
            self._ready = None

    async def _wait_writes(self, limit: int) -> bool:
        """Wait for the pending writes to drop below ``limit`` bytes (0: all written).

        The write watchdog fails the stream when a write outlives ``Timeouts.write``; the
        deadline here only guards against waiting past that.
        """
        deadline = self._loop.time() + 2 * self._timeouts.write
        return await self._writes.wait_below(limit, deadline)

    def _write_timed_out(self) -> None:
        self._fail(
            WriteTimeout(self._timeouts.write, f"{self._endpoint} is not accepting request data")
        )

    def _fail(self, error: BaseException) -> None:
        """The exchange cannot go on: remember why and give the stream up."""
        if self._error is None:
            self._error = error
        self._abandon()
        self._waiters.notify()

    def _abandon(self) -> bool:
        """Give up on the stream; True if its connection is closing (so it completes soon)."""
        if not self._machine.abandon():
            return self._machine.completed
        self._conn.abandon()
        return self._on_abandon_cb(self._conn)

    # -- closing -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the request body, end or abandon the stream, free its slot. Idempotent.

        A stream whose response is complete is finished cleanly (its connection stays in the
        pool); an unfinished one is abandoned. Never waits longer than ``Timeouts.close``.
        """
        if not self._machine.close():
            await self._closed.wait()
            return
        try:
            await self._close(self._loop.time() + self._timeouts.close)
        finally:
            self._writes.cancel()
            self._chunks.clear()
            self._machine.closed()
            self._closed.set()
            self._waiters.notify()

    async def _close(self, deadline: float) -> None:
        self._stop_push()
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            await asyncio.wait({writer}, timeout=max(0.0, deadline - self._loop.time()))
        if writer is not None and writer.done() and not writer.cancelled():
            writer.exception()  # retrieved: _pump handles its own errors
        machine = self._machine
        if machine.completed:
            return
        if machine.response_ended and self._error is None:
            # The response is complete: at most our END_STREAM is missing. Finish cleanly so the
            # connection stays in the pool, unless an earlier write is stuck.
            if machine.awaiting_local_end and await self._writes.wait_below(0, deadline):
                with contextlib.suppress(StreamOver):
                    self._writes.submit(self._crt, None, end=True)
            await self._wait_completed(deadline)
        if not machine.completed and self._abandon():
            await self._wait_completed(deadline)

    async def _wait_completed(self, deadline: float) -> None:
        while not self._machine.completed and await self._waiters.wait(deadline):
            pass
