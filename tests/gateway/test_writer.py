"""The writer's per-frame deadline: a client that reads nothing is closed, a slow one is not.

On the virtual clock, with a socket whose sends take as long as the test says (what the
deadline watches is the writer's own waiting, not the network).
"""

from __future__ import annotations

import asyncio
from typing import cast

from starlette.websockets import WebSocket

from polly_pipeline.gateway.send_buffer import SendBuffer
from polly_pipeline.gateway.writer import write_frames
from polly_pipeline.testing import virtual_clock


class _Socket:
    """Each send takes ``send_seconds`` (None: never completes)."""

    def __init__(self, send_seconds: float | None) -> None:
        self.send_seconds = send_seconds
        self.sent: list[bytes | str] = []
        self.closed: tuple[int, str] | None = None

    async def _send(self, frame: bytes | str) -> None:
        if self.send_seconds is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.send_seconds or 0)
        self.sent.append(frame)

    async def send_bytes(self, data: bytes) -> None:
        await self._send(data)

    async def send_text(self, data: str) -> None:
        await self._send(data)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def _writer(socket: _Socket, out: SendBuffer, per_frame: float) -> asyncio.Task[None]:
    return asyncio.create_task(write_frames(cast(WebSocket, socket), out, per_frame))


async def _cancelled(writer: asyncio.Task[None]) -> bool:
    writer.cancel()
    await asyncio.wait({writer}, timeout=1)
    return writer.cancelled()


@virtual_clock
async def test_a_client_that_reads_nothing_is_closed_after_the_deadline() -> None:
    socket, out = _Socket(send_seconds=None), SendBuffer(limit=8)
    out.add(b"audio", 0)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(_writer(socket, out, per_frame=30.0), 60)
    assert asyncio.get_running_loop().time() - started >= 30.0
    assert socket.closed == (1008, "the client stopped reading")


@virtual_clock
async def test_slow_sends_each_within_the_deadline_are_all_delivered() -> None:
    socket, out = _Socket(send_seconds=20.0), SendBuffer(limit=8)
    for n in range(5):  # 100 s of sending in all, each frame 20 s of a 30 s deadline
        out.add(f"frame {n}".encode(), 0)
    writer = _writer(socket, out, per_frame=30.0)
    await asyncio.sleep(200)  # then idle for longer than the deadline: nothing is closed
    assert socket.sent == [f"frame {n}".encode() for n in range(5)]
    assert socket.closed is None
    assert not writer.done()
    assert await _cancelled(writer)  # the conversation ending cancels the writer as before


@virtual_clock
async def test_the_conversation_ending_mid_send_cancels_the_writer() -> None:
    socket, out = _Socket(send_seconds=None), SendBuffer(limit=8)
    out.add("event", 0)
    writer = _writer(socket, out, per_frame=30.0)
    await asyncio.sleep(5)
    assert await _cancelled(writer)
    assert socket.closed is None
