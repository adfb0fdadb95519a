"""Local service layer (HTTP server): plumbing both protocol engines share.

Writing with backpressure, running each request's handler in its own task (owned by the
server, :attr:`ServerOptions.tasks`, so a handler outliving its connection is still cancelled
and awaited when the server closes), the idle timer and
the header deadline (a request head must be complete within ``header_timeout`` of its first
byte, so a client trickling headers cannot hold a connection until the idle timeout).
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable

from polly_pipeline.local.http.types import (
    ConnectionControl,
    Request,
    RequestBody,
    Responder,
    ServerOptions,
    StreamClosed,
    serve_request,
)

__all__ = ["ServerConnection"]

log = logging.getLogger("polly_pipeline.local.http")


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
        """Run the handler for one request in its own task (the server's to cancel on close)."""
        self._options.tasks.start(
            self._run_handler(request, body, responder, on_done),
            name=f"polly-local-handler-{self.id}",
        )

    async def _run_handler(
        self,
        request: Request,
        body: RequestBody,
        responder: Responder,
        on_done: Callable[[], None],
    ) -> None:
        try:
            await serve_request(
                self._options.handler, request, body, responder, where=f"connection {self.id}"
            )
        finally:
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
