"""Transport layer: the awscrt boundary: TLS contexts, thread hand-off and error translation.

awscrt runs its callbacks on its own event-loop threads; :func:`post` hands them to the asyncio
loop. awscrt reports failures as :class:`awscrt.exceptions.AwsCrtError` (or, from some native
calls, a ``RuntimeError`` whose text carries the error name); :func:`error_name` reads either,
and :func:`connect_error` / :func:`stream_error` turn them into the package's error tree.
"""

from __future__ import annotations

import asyncio
import re
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from awscrt import io as crt_io
from awscrt.exceptions import AwsCrtError

from polly_pipeline.errors import (
    ConnectError,
    ConnectionClosedError,
    ConnectTimeout,
    StreamResetError,
    TransportError,
)
from polly_pipeline.transport.config import Endpoint, TLSConfig

__all__ = [
    "CONNECTION_GONE",
    "connect_error",
    "error_name",
    "post",
    "stream_error",
    "tls_context",
]

#: awscrt errors that mean the connection under a stream went away.
CONNECTION_GONE = frozenset(
    {
        "AWS_ERROR_HTTP_CONNECTION_CLOSED",
        "AWS_ERROR_HTTP_GOAWAY_RECEIVED",
        "AWS_ERROR_HTTP_SERVER_CLOSED",
        "AWS_ERROR_HTTP_PROTOCOL_ERROR",
        "AWS_IO_SOCKET_CLOSED",
        "AWS_IO_BROKEN_PIPE",
        "AWS_IO_SOCKET_NOT_CONNECTED",
        "AWS_IO_SOCKET_CONNECTION_RESET",
    }
)

_NAME_IN_TEXT = re.compile(r"\b(AWS_[A-Z0-9_]+)\b")

CA_HINT = (
    "if the server uses a private certificate authority (such as the local service's), "
    "pass its certificate with the ca_file option"
)


def tls_context(tls: TLSConfig) -> crt_io.ClientTlsContext:
    """A client TLS context: TLS 1.2+, peer verification on, ALPN ``h2``, optional CA bundle."""
    options = crt_io.TlsContextOptions()
    options.min_tls_ver = crt_io.TlsVersion.TLSv1_2
    options.verify_peer = True
    ca = tls.read_ca()
    if ca is not None:
        options.override_default_trust_store(ca)
    options.alpn_list = ["h2"]
    return crt_io.ClientTlsContext(options)


class _Inbox:
    """Callbacks from awscrt threads waiting to run on one loop, handed over in batches.

    A busy client receives thousands of body chunks a second across its streams. Waking the
    loop once per chunk (``call_soon_threadsafe`` writes to the loop's self-pipe every time)
    costs a system call and a handle each; the inbox wakes the loop once for everything that
    arrived meanwhile, and runs it in arrival order.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self.lock = threading.Lock()
        self.scheduled = False

    def post(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        if self.loop.is_closed():
            return False
        with self.lock:
            self.items.append((callback, args))
            if self.scheduled:
                return True
            self.scheduled = True
        try:
            self.loop.call_soon_threadsafe(self.drain)
        except RuntimeError:  # the loop closed meanwhile
            with self.lock:
                self.items.clear()
                self.scheduled = False
            return False
        return True

    def drain(self) -> None:
        with self.lock:
            items, self.items = self.items, deque()
            self.scheduled = False
        for callback, args in items:
            try:
                callback(*args)
            except Exception as exc:  # one failing callback must not drop the others
                self.loop.call_exception_handler(
                    {"message": f"error in awscrt callback {callback!r}", "exception": exc}
                )


_inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox] = weakref.WeakKeyDictionary()
_inboxes_lock = threading.Lock()


def post(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> bool:
    """Run ``callback(*args)`` on ``loop``'s thread; False if the loop is already closed.

    Callbacks posted to one loop run in the order they were posted.
    """
    inbox = _inboxes.get(loop)
    if inbox is None:
        with _inboxes_lock:
            inbox = _inboxes.setdefault(loop, _Inbox(loop))
    return inbox.post(callback, args)


def error_name(exc: BaseException) -> str:
    """awscrt's error name (``AWS_...``) for an exception, else its class name."""
    if isinstance(exc, AwsCrtError):
        return str(exc.name)
    found = _NAME_IN_TEXT.search(str(exc))
    return found.group(1) if found else type(exc).__name__


def _describe(exc: BaseException) -> str:
    if isinstance(exc, AwsCrtError):
        return f"{exc.message} ({exc.name})"
    return str(exc)


def connect_error(exc: BaseException, endpoint: Endpoint, timeout: float) -> TransportError:
    """Translate a failed connection attempt."""
    name = error_name(exc)
    where = str(endpoint)
    if name == "AWS_IO_SOCKET_CONNECTION_REFUSED":
        return ConnectError(f"could not connect to {where}: connection refused")
    if name == "AWS_IO_SOCKET_TIMEOUT":
        return ConnectTimeout(timeout, f"TCP connect to {where}")
    if name.startswith("AWS_IO_DNS_"):
        return ConnectError(
            f"could not connect to {where}: cannot resolve {endpoint.host!r}: {_describe(exc)}"
        )
    if name == "AWS_ERROR_HTTP_UNSUPPORTED_PROTOCOL":
        return ConnectError(
            f"could not connect to {where}: the server does not speak HTTP/2 (ALPN did not "
            "select h2; it only offers HTTP/1.1), and HTTP/2 event streams need HTTP/2"
        )
    if name.startswith("AWS_IO_TLS_"):
        return ConnectError(
            f"could not connect to {where}: the TLS handshake failed ({name}): the server "
            f"certificate could not be verified or the server refused the TLS parameters; "
            f"{CA_HINT}"
        )
    return ConnectError(f"could not connect to {where}: {_describe(exc)}")


def stream_error(exc: BaseException, endpoint: Endpoint, *, before_headers: bool) -> TransportError:
    """Translate the failure of an open HTTP/2 stream."""
    name = error_name(exc)
    when = "before sending response headers" if before_headers else "during the response"
    if name == "AWS_ERROR_HTTP_RST_STREAM_RECEIVED":
        return StreamResetError(
            f"{endpoint} reset the HTTP/2 stream (RST_STREAM) {when}",
            before_headers=before_headers,
        )
    if name == "AWS_ERROR_HTTP_GOAWAY_RECEIVED":
        return ConnectionClosedError(f"{endpoint} sent GOAWAY {when}; the stream was not served")
    if name in CONNECTION_GONE or name.startswith("AWS_IO_TLS_"):
        return ConnectionClosedError(f"the connection to {endpoint} closed {when} ({name})")
    return TransportError(f"the HTTP/2 stream to {endpoint} failed {when}: {_describe(exc)}")
