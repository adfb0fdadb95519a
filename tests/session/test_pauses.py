"""A model that goes quiet (a tool call, a slow backend) is not a broken stream.

Silence on a synthesis stream is normal whenever no audio is owed: the service has spoken
everything flushed so far and waits for more text. These tests pause far longer than the read
deadline (``Timeouts.read``, 30 s by default) and judge the session by what crossed the wire
and what the listener got: every sentence sent once, its audio delivered once.
"""

from __future__ import annotations

import asyncio

from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session import SpeechSession
from polly_pipeline.testing import virtual_clock
from polly_pipeline.transport import Timeouts
from tests.session.recording import Recording, recording_client

FIRST = "Let me look that up. "
SECOND = "It is sunny in Lisbon today. "
#: Three read deadlines, and many of the service's 5 s inbound timeouts.
PAUSE = 3 * Timeouts().read


async def answer(
    pause: float, *, first_flush: bool = True, stall_flush: bool = False
) -> tuple[bytes, Recording, SpeechSession]:
    """One turn: a sentence, ``pause`` seconds of silence, another sentence.

    ``stall_flush``: 5 s after the first sentence (spoken by then), a flush of nothing new.
    """
    service = LocalPollyService(LocalServiceConfig())
    client, recording = recording_client(service, Timeouts())
    async with client, SpeechSession(client, voice_id="Joanna") as session:
        turn = await session.begin_turn()

        async def model() -> None:
            await turn.send(FIRST, flush=first_flush)
            if stall_flush:
                await asyncio.sleep(5.0)
                await turn.send("", flush=True)
            await asyncio.sleep(pause)
            await turn.send(SECOND, flush=True)
            await turn.finish()

        writing = asyncio.create_task(model())
        audio = b"".join([chunk.data async for chunk in turn.audio()])
        await writing
    return audio, recording, session


@virtual_clock
async def test_a_long_pause_mid_turn_repeats_nothing() -> None:
    paused, recording, session = await answer(PAUSE)
    unpaused, _, _ = await answer(0.0)
    spoken = [e.text for e in recording.text_events() if e.text.strip()]
    assert spoken == [FIRST, SECOND]  # each sentence crossed the wire once
    assert paused == unpaused  # the listener hears the same audio as without the pause
    metrics = session.turns[-1]
    assert metrics.retries == 0
    assert metrics.streams == 1
    # the stream stayed open through the pause on keep-alives
    assert sum(1 for e in recording.text_events() if not e.text.strip()) >= PAUSE / 5


@virtual_clock
async def test_an_idle_session_keeps_its_streams_through_long_silence() -> None:
    service = LocalPollyService(LocalServiceConfig())
    client, recording = recording_client(service, Timeouts())
    async with client, SpeechSession(client, voice_id="Joanna") as session:
        await asyncio.sleep(1.0)
        opened = len(recording.wires)
        await asyncio.sleep(PAUSE)  # nobody speaks: only keep-alives flow
        assert len(recording.wires) == opened  # no stream was dropped and replaced
        turn = await session.begin_turn()
        await turn.send(FIRST, flush=True)
        await turn.finish()
        assert b"".join([chunk.data async for chunk in turn.audio()])
    assert session.turns[-1].retries == 0
