"""Transport layer: the seam between the client and whatever carries its bytes.

The client needs one thing from a transport: open a duplex request/response exchange. Any
object with :meth:`Transport.open_stream` (and ``aclose``) will do; the awscrt
:class:`~polly_pipeline.transport.ConnectionPool` is the default, and
:class:`polly_pipeline.local.in_memory.InMemoryTransport` wires the client straight to the local
service's request handler (no sockets, no TLS) for fast, deterministic tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol, Self, runtime_checkable

from polly_pipeline.transport.config import Endpoint
from polly_pipeline.transport.response import Response

__all__ = ["DuplexStream", "ReadyBody", "Transport"]


@runtime_checkable
class DuplexStream(Protocol):
    """One request/response exchange whose request body flows while the response arrives.

    ``await response()`` for the status and headers, ``async for chunk in stream`` for the body,
    ``aclose()`` when done (it stops the request body and frees the exchange). Every wait has a
    deadline; failures are :class:`~polly_pipeline.errors.TransportError` subclasses.
    """

    async def response(self) -> Response:
        """The response status and headers."""
        ...

    def __aiter__(self) -> AsyncIterator[bytes]:
        """The response body, chunk by chunk."""
        ...

    async def aclose(self) -> None:
        """End or abandon the exchange. Idempotent."""
        ...


@runtime_checkable
class ReadyBody(Protocol):
    """A request body that says when it has data, so a transport can write it at once.

    It is still an async iterator of bytes, and a transport may simply pull it. The awscrt
    transport instead calls :meth:`take` when the body signals (through the listener it set)
    that data is ready: token-by-token text then costs no task wake-up per chunk.
    """

    def __aiter__(self) -> Self:
        """The body as chunks pulled one by one (as any transport may do)."""
        ...

    async def __anext__(self) -> bytes:
        """The next chunk."""
        ...

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener()`` (synchronously) each time data becomes ready; None: stop."""
        ...

    def take(self) -> bytes:
        """All the data ready now (b"" if none)."""
        ...

    @property
    def complete(self) -> bool:
        """True once the last data was taken: the request body is over."""
        ...


@runtime_checkable
class Transport(Protocol):
    """Opens duplex exchanges to an endpoint (the client's only need from the network)."""

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
    ) -> DuplexStream:
        """Send the request head and start pulling ``body``; returns before the response.

        ``headers`` carry lowercase names and no pseudo-headers (a ``host`` header, if any,
        is the ``:authority``). ``body`` is pulled one chunk at a time as the peer accepts
        data; when it ends, the request ends. ``use_pool=False`` asks for a connection of the
        exchange's own, where the transport has connections. ``read_deadline=False``: no
        ``Timeouts.read`` bound on the wait for the next response chunk, because the caller
        bounds its own reads (a duplex stream whose response is rightly silent while its
        request side is idle, as a synthesis stream between two pieces of text).
        """
        ...

    async def aclose(self) -> None:
        """Close every exchange and connection. Idempotent."""
        ...
