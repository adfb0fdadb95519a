"""Errors (all layers): the transport's errors, with a NetworkTimeout subclass per phase."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from polly_pipeline.errors.base import PollyPipelineError

__all__ = [
    "CloseTimeout",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosedError",
    "NetworkTimeout",
    "Phase",
    "ReadTimeout",
    "ResponseHeadersTimeout",
    "StreamResetError",
    "TransportError",
    "WriteTimeout",
    "timeout_error",
]


# --- transport ---------------------------------------------------------------------------


class TransportError(PollyPipelineError):
    """The network connection failed; the request may be retried on a fresh stream."""


class ConnectError(TransportError):
    """The connection could not be established (DNS, refused, TLS handshake or ALPN)."""


#: The network waits that have a deadline (:class:`~polly_pipeline.transport.Timeouts`).
Phase = Literal["connect", "response_headers", "read", "write", "close"]


class NetworkTimeout(TransportError):
    """A network wait passed its deadline.

    Attributes:
        phase: which wait timed out.
        timeout: the deadline in seconds.
    """

    def __init__(self, phase: Phase, timeout: float, detail: str = "") -> None:
        self.phase = phase
        self.timeout = timeout
        what = {
            "connect": "connecting",
            "response_headers": "waiting for response headers",
            "read": "waiting for response data",
            "write": "sending request data",
            "close": "closing the stream",
        }[phase]
        msg = f"timed out after {timeout:g}s {what}"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class ConnectTimeout(NetworkTimeout):
    """Connecting (TCP, TLS, the server's first SETTINGS) passed its deadline."""

    def __init__(self, timeout: float, detail: str = "") -> None:
        super().__init__("connect", timeout, detail)


class ResponseHeadersTimeout(NetworkTimeout):
    """The response headers did not arrive within their deadline."""

    def __init__(self, timeout: float, detail: str = "") -> None:
        super().__init__("response_headers", timeout, detail)


class ReadTimeout(NetworkTimeout):
    """The next response data (or the next complete event) did not arrive in time."""

    def __init__(self, timeout: float, detail: str = "") -> None:
        super().__init__("read", timeout, detail)


class WriteTimeout(NetworkTimeout):
    """The connection did not accept request data within its deadline."""

    def __init__(self, timeout: float, detail: str = "") -> None:
        super().__init__("write", timeout, detail)


class CloseTimeout(NetworkTimeout):
    """A stream or connection did not close politely within its deadline."""

    def __init__(self, timeout: float, detail: str = "") -> None:
        super().__init__("close", timeout, detail)


_BY_PHASE: dict[str, Callable[[float, str], NetworkTimeout]] = {
    "connect": ConnectTimeout,
    "response_headers": ResponseHeadersTimeout,
    "read": ReadTimeout,
    "write": WriteTimeout,
    "close": CloseTimeout,
}


def timeout_error(phase: Phase, timeout: float, detail: str = "") -> NetworkTimeout:
    """The :class:`NetworkTimeout` subclass for ``phase``."""
    return _BY_PHASE[phase](timeout, detail)


class StreamResetError(TransportError):
    """The peer reset the HTTP/2 stream.

    Attributes:
        before_headers: True when no response headers had arrived yet.
    """

    def __init__(self, message: str, *, before_headers: bool) -> None:
        self.before_headers = before_headers
        super().__init__(message)


class ConnectionClosedError(TransportError):
    """The connection went away (GOAWAY or a drop) while a stream was open."""
