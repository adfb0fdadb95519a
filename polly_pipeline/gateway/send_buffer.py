"""Gateway layer: the bounded, ordered buffer of frames waiting to go to one client.

A turn's audio and events wait for room (backpressure: reading more audio from Polly pauses
while a slow client catches up); replies to the client's own messages (errors, interrupt
acknowledgements) never wait, so a flood of audio cannot hold back an interrupt's answer.
On barge-in, the interrupted turn's frames still waiting are dropped.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["BufferOverflow", "SendBuffer"]

Frame = str | bytes


class BufferOverflow(Exception):
    """The client let too many replies pile up unread."""


class SendBuffer:
    """Frames for one client, in order; at most ``limit`` turn frames are held.

    Args:
        limit: turn frames (audio, turn events) held before :meth:`put` waits.
        reply_limit: replies held before :meth:`reply` raises :class:`BufferOverflow`.
    """

    def __init__(self, limit: int, reply_limit: int = 256) -> None:
        self._items: deque[tuple[int | None, Frame]] = deque()
        self._limit = limit
        self._reply_limit = reply_limit
        self._held = 0
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, frame: Frame, turn: int) -> None:
        """Queue a frame of ``turn``, waiting while the buffer is full."""
        while self._held >= self._limit:
            self._room.clear()
            await self._room.wait()
        self._items.append((turn, frame))
        self._held += 1
        self._ready.set()

    def add(self, frame: Frame, turn: int) -> None:
        """Queue a frame of ``turn`` now, even over the limit (never waits).

        For a turn's events that answer the client's own text (``segment``): their number is
        bounded by the text the client may send, and dropped with the turn like its audio.
        """
        self._items.append((turn, frame))
        self._held += 1
        self._ready.set()

    def reply(self, frame: Frame) -> None:
        """Queue a reply now (never waits).

        Raises:
            BufferOverflow: ``reply_limit`` replies are already waiting.
        """
        if len(self._items) - self._held >= self._reply_limit:
            raise BufferOverflow(f"{self._reply_limit} replies left unread")
        self._items.append((None, frame))
        self._ready.set()

    async def get(self) -> Frame:
        """The next frame, waiting for one."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        turn, frame = self._items.popleft()
        if turn is not None:
            self._held -= 1
            self._room.set()
        return frame

    def drop_turn(self, turn: int) -> int:
        """Drop the frames of ``turn`` still waiting; returns how many."""
        kept = deque(item for item in self._items if item[0] != turn)
        dropped = len(self._items) - len(kept)
        self._items = kept
        self._held = sum(item[0] is not None for item in kept)
        self._room.set()
        return dropped
