"""The turn driver's ownership of its tasks, on a scripted stream source (no service).

A barge-in that lands in the same instant as a stream failure must stop the turn: the
failure may not start a retry after ``interrupt()`` returned, nor hide the cancellation.
"""

from __future__ import annotations

import asyncio

from polly_pipeline.errors import ConnectError
from polly_pipeline.session.events import SessionEvent, StreamRetry
from polly_pipeline.session.link import StreamLink
from polly_pipeline.session.turn import Turn
from tests.session.contexts import turn_context


class RefusingStreams:
    """A stream source whose every stream fails to open once ``gate`` is set."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()
        self.taken = 0

    async def take(self, purpose: str) -> StreamLink:
        self.taken += 1
        self.waiting.set()
        await self.gate.wait()
        raise ConnectError("connection refused")

    def retire(self, link: StreamLink) -> None:
        raise AssertionError("no stream was ever opened")


async def test_a_barge_in_in_the_instant_a_stream_fails_stops_the_turn() -> None:
    events: list[SessionEvent] = []
    streams = RefusingStreams()
    context = turn_context(streams, events)
    turn = Turn(context, 0)
    await turn.send("Hello there. ", flush=True)
    await turn.finish()
    await asyncio.wait_for(streams.waiting.wait(), 5)  # the turn waits for its first stream
    streams.gate.set()  # the stream fails in the next instant...
    report = await asyncio.wait_for(turn.interrupt(), 5)  # ...and the listener barges in
    assert report.characters_sent == 0
    assert turn.done
    assert turn.metrics.interrupted
    assert turn.error is None
    assert not any(isinstance(e, StreamRetry) for e in events), events
    assert streams.taken == 1
    assert [chunk async for chunk in turn.audio()] == []
