"""The session's promises, checked on the bytes that crossed the transport.

A recording transport wraps the in-memory one (:mod:`tests.session.recording`), and the tests
run on the virtual clock, so the time each frame crossed is exact and the same every run. The
tests judge the session by those bytes and times, not by its own counters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from polly_pipeline.local.config import LatencyModel, LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session import RetryPolicy, SpeechSession
from polly_pipeline.testing import virtual_clock
from polly_pipeline.transport import Timeouts
from tests.session.recording import recording_client

#: 16 kHz signed 16-bit mono: bytes of PCM per second of speech
PCM_BYTES_PER_SECOND = 32000


async def speak(session: SpeechSession, texts: Sequence[str], gap: float = 0.0) -> bytes:
    turn = await session.begin_turn()

    async def feed() -> None:
        for i, text in enumerate(texts):
            await turn.send(text, flush=i == 0)
            await asyncio.sleep(gap)
        await turn.finish()

    feeder = asyncio.create_task(feed())
    audio = b"".join([chunk.data async for chunk in turn.audio()])
    await feeder
    return audio


@virtual_clock
async def test_keep_alives_are_empty_on_the_wire() -> None:
    service = LocalPollyService(LocalServiceConfig(inbound_event_timeout=1.0))
    client, recording = recording_client(service)
    async with client, SpeechSession(client, voice_id="Joanna", keepalive_interval=0.2) as session:
        await asyncio.sleep(0.9)  # idle: only keep-alives flow on the warm stream
        assert await speak(session, ["Hello after a pause. "])
    keep_alives = [e for e in recording.text_events() if not e.text.strip() and not e.flush]
    assert len(keep_alives) >= 3
    # not a space: a space between two halves of a word would split the word
    assert [e.text for e in keep_alives] == [""] * len(keep_alives)


@virtual_clock
async def test_rollover_under_service_latency_keeps_the_old_streams_audio_first() -> None:
    config = LocalServiceConfig(
        inbound_event_timeout=1.0,
        max_stream_duration=30.0,
        latency=LatencyModel(first_audio=0.05, real_time_factor=0.25),
    )
    service = LocalPollyService(config)
    client, recording = recording_client(service)
    texts = [f"Sentence {i} is spoken across a rollover. " for i in range(6)]
    async with (
        client,
        SpeechSession(
            client,
            voice_id="Joanna",
            keepalive_interval=0.3,
            max_stream_age=0.6,
            retry=RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2),
        ) as session,
    ):
        delivered = await speak(session, texts, gap=0.15)
        assert session.turns[-1].rollovers >= 1
        assert session.turns[-1].retries == 0
    streams = [audio for audio in recording.audio_by_stream() if audio]
    assert len(streams) >= 2  # the turn's audio came over more than one stream
    # stream by stream: nothing of a later stream before all of the earlier one
    assert delivered == b"".join(streams)


@virtual_clock
async def test_pacing_keeps_the_text_on_the_wire_within_its_lead() -> None:
    """With ``pacing=2.0`` no TextEvent leaves while more than about two seconds are ahead.

    What is ahead when a TextEvent goes out: the speech of all the text sent before it (at the
    speaking rate measured afterwards from the audio the service returned) minus what a
    listener playing in real time from the first audio has heard by then.
    """
    service = LocalPollyService(LocalServiceConfig(inbound_event_timeout=1.0))
    # the default read deadline: a paced stream is silent while a sentence plays (seconds)
    client, recording = recording_client(service, Timeouts())
    texts = [f"Paced sentence {i} waits. " for i in range(16)]  # about 1.5 s each
    pacing = 2.0
    async with (
        client,
        SpeechSession(
            client, voice_id="Joanna", keepalive_interval=0.3, max_stream_age=600.0, pacing=pacing
        ) as session,
    ):
        audio = await speak(session, texts)
    spoken = [(at, e.text) for at, e in recording.timed_text_events() if e.text.strip()]
    assert "".join(text for _, text in spoken) == "".join(texts)
    seconds_per_char = len(audio) / PCM_BYTES_PER_SECOND / sum(map(len, texts))
    first_audio = recording.first_audio_at()
    leads = []
    sent_chars = 0
    for at, text in spoken:
        if at > first_audio:  # before the first audio nothing is playing yet
            leads.append(sent_chars * seconds_per_char - (at - first_audio))
        sent_chars += len(text)
    assert len(leads) >= 8  # most of the text waited for the listener
    # the bound, plus the error of measuring each sentence at the turn's average rate
    assert max(leads) <= 1.25 * pacing, leads
    assert max(leads) >= 0.5 * pacing, leads  # and the lead was used, not starved
