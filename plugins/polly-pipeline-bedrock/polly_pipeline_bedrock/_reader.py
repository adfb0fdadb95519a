"""Source layer: read a ConverseStream on a worker thread and hand its events to the loop.

botocore is blocking: the request and every read of the event stream run on one dedicated
thread, whose socket reads all have a deadline (botocore's ``read_timeout``). Each parsed event
is passed to the event loop with ``call_soon_threadsafe`` (no polling). Stopping early sets a
flag and shuts the socket down, which wakes a read blocked in the thread at once; the thread
then closes the response (so the connection is not reused) and ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal

__all__ = ["Item", "StreamReader"]

log = logging.getLogger(__name__)

#: What the thread hands over: a parsed event, the response metadata, an error, or the end.
Item = (
    tuple[Literal["event"], Mapping[str, Any]]
    | tuple[Literal["response"], Mapping[str, Any]]
    | tuple[Literal["error"], BaseException]
    | tuple[Literal["end"], None]
)


class StreamReader:
    """One ConverseStream call on its own thread.

    Args:
        open_client: returns the botocore client and whether this reader owns (closes) it.
        request: the ``converse_stream`` keyword arguments.
        name: the thread's name.
    """

    def __init__(
        self,
        open_client: Callable[[], tuple[Any, bool]],
        request: Mapping[str, Any],
        name: str = "bedrock-converse-stream",
    ) -> None:
        self._open_client = open_client
        self._request = request
        self._loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self._done: asyncio.Future[None] = self._loop.create_future()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._raw: Any = None  # the urllib3 response, once there is one
        self.endpoint_url: str | None = None
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    async def stop(self, grace: float) -> bool:
        """Stop reading, close the response and wait up to ``grace`` seconds for the thread.

        Returns True once the thread has ended. A thread still connecting or waiting for the
        response headers cannot be woken; it ends by itself within botocore's timeouts.
        """
        self._stop.set()
        with self._lock:
            raw = self._raw
        if raw is not None:
            _interrupt(raw)
        if not self._done.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._done), grace)
        if self._done.done():
            self._thread.join(grace)
            return not self._thread.is_alive()
        log.debug("the Bedrock reader thread is still waiting for the service; it ends by itself")
        return False

    # -- on the thread ------------------------------------------------------------------------

    def _post(self, item: Item) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def _work(self) -> None:
        client: Any = None
        owned = False
        stream: Any = None
        try:
            client, owned = self._open_client()
            self.endpoint_url = str(client.meta.endpoint_url)
            if self._stop.is_set():
                return
            response = client.converse_stream(**self._request)
            stream = response["stream"]
            # botocore keeps the HTTP response on the EventStream; it is what a stop must wake.
            with self._lock:
                self._raw = getattr(stream, "_raw_stream", None)
            if self._stop.is_set():
                return
            self._post(("response", response.get("ResponseMetadata") or {}))
            for event in stream:
                if self._stop.is_set():
                    return
                self._post(("event", event))
            self._post(("end", None))
        except Exception as exc:
            if not self._stop.is_set():
                self._post(("error", exc))
            else:
                log.debug("the Bedrock stream ended while stopping: %r", exc)
        finally:
            with self._lock:
                self._raw = None
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()
            if owned and client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(_resolve, self._done)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _interrupt(raw: Any) -> None:
    """Shut the response's socket down so a read blocked on another thread returns now."""
    with contextlib.suppress(Exception):
        raw.shutdown()  # urllib3 >= 2.3
        return
    connection = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
