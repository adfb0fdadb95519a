"""A test client of the ``/v1/speak`` protocol on the real ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection


@dataclass
class TurnResult:
    """What the server sent for one turn, in order."""

    events: list[dict[str, Any]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    frames_after_end: int = 0

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


class SpeakClient:
    """Sends the protocol's messages and reads its events and audio."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def start(self, **options: Any) -> dict[str, Any]:
        await self.send(type="start", **options)
        return await self.event()

    async def event(self, within: float = 10.0) -> dict[str, Any]:
        """The next JSON event (audio frames before it are an error here)."""
        async with asyncio.timeout(within):
            frame = await self.ws.recv()
        assert isinstance(frame, str), f"expected an event, got {len(frame)} bytes of audio"
        event: dict[str, Any] = json.loads(frame)
        return event

    async def until(self, *kinds: str, within: float = 20.0) -> TurnResult:
        """Everything up to and including the first event of one of ``kinds``."""
        result = TurnResult()
        async with asyncio.timeout(within):
            while True:
                frame = await self.ws.recv()
                if isinstance(frame, bytes):
                    result.audio += frame
                    continue
                event = json.loads(frame)
                result.events.append(event)
                if event["type"] in kinds:
                    return result

    async def say(self, *pieces: str, **until: Any) -> TurnResult:
        """One whole turn: its pieces, the end, and everything up to ``turn_done``."""
        for piece in pieces:
            await self.send(text=piece)
        await self.send(type="end")
        return await self.until("turn_done", "error", **until)
