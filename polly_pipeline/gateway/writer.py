"""Gateway layer: the writer, one conversation's send buffer drained to its WebSocket.

Each frame has a deadline: a client that reads nothing for that long is closed with
1008 (RFC 6455: policy violation) instead of holding the conversation's audio forever.
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


async def write_frames(websocket: WebSocket, out: SendBuffer, per_frame: float) -> None:
    """Send ``out``'s frames in order until the client leaves or reads nothing for
    ``per_frame`` seconds."""
    while True:
        frame = await out.get()
        try:
            async with asyncio.timeout(per_frame):
                if isinstance(frame, bytes):
                    await websocket.send_bytes(frame)
                else:
                    await websocket.send_text(frame)
        except TimeoutError:
            log.warning("closing a conversation whose client read nothing for %.0f s", per_frame)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await websocket.close(_POLICY_VIOLATION, "the client stopped reading")
            return
        except (WebSocketDisconnect, RuntimeError, OSError):
            return
