"""Gateway layer: the writer, one conversation's send buffer drained to its WebSocket.

Each frame has a deadline: a client that reads nothing for that long is closed with
1008 (RFC 6455: policy violation) instead of holding the conversation's audio forever. One
timer per conversation watches the send under way (re-armed when it fires), instead of a
timeout per frame: a rush sends tens of thousands of frames a second per worker, and a
timeout each was a timer scheduled and cancelled per frame on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from polly_pipeline.gateway.send_buffer import SendBuffer

__all__ = ["write_frames"]

log = logging.getLogger("polly_pipeline.gateway")

#: WebSocket close code for a client that stopped reading (RFC 6455: policy violation).
_POLICY_VIOLATION = 1008


class _SendWatch:
    """Cancels the writer when one send has been under way for ``per_frame`` seconds."""

    def __init__(self, per_frame: float) -> None:
        self.loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.per_frame = per_frame
        self.since: float | None = None  # when the send under way began
        self.expired = False
        self.timer = self.loop.call_at(self.loop.time() + per_frame, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        since = self.since
        if since is not None and now - since >= self.per_frame:
            self.expired = True
            self.task.cancel()
            return
        self.timer = self.loop.call_at(
            (now if since is None else since) + self.per_frame, self._check
        )

    def timed_out(self) -> bool:
        """On CancelledError: whether it was this watch's (the cancel then taken back)."""
        return self.expired and self.task.uncancel() == 0


async def write_frames(websocket: WebSocket, out: SendBuffer, per_frame: float) -> None:
    """Send ``out``'s frames in order until the client leaves or reads nothing for
    ``per_frame`` seconds."""
    watch = _SendWatch(per_frame)
    try:
        while True:
            frame = await out.get()
            watch.since = watch.loop.time()
            try:
                if isinstance(frame, bytes):
                    await websocket.send_bytes(frame)
                else:
                    await websocket.send_text(frame)
            except asyncio.CancelledError:
                if not watch.timed_out():
                    raise
                break
            except (WebSocketDisconnect, RuntimeError, OSError):
                return
            finally:
                watch.since = None
    finally:
        watch.timer.cancel()
    log.warning("closing a conversation whose client read nothing for %.0f s", per_frame)
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await websocket.close(_POLICY_VIOLATION, "the client stopped reading")
