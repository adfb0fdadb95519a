"""tts.stream() and tts.synthesize() standalone, on the real local Polly service."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import assert_service_audio, pcm_bytes, rms, settled, spoken_streams
from livekit.agents import tts as lk_tts
from polly_pipeline_livekit import TTS

from polly_pipeline.local import LocalPollyService


async def collect(stream: lk_tts.SynthesizeStream) -> list[lk_tts.SynthesizedAudio]:
    return [event async for event in stream]


async def test_audio_arrives_before_end_input_and_matches_what_the_service_spoke(
    polly_tts: TTS, local_polly: LocalPollyService
) -> None:
    stream = polly_tts.stream()
    for token in ["Hello", " there", ". This", " answer"]:
        stream.push_text(token)
    first = await asyncio.wait_for(anext(aiter(stream)), 10)  # the input is still open
    stream.push_text(" keeps **going** for a while.")
    stream.end_input()
    events = [first, *await asyncio.wait_for(collect(stream), 20)]
    await stream.aclose()

    (record,) = spoken_streams(local_polly)
    await settled(record)
    assert "".join(record.texts) == "Hello there. This answer keeps going for a while."
    assert record.outcome == "completed"
    pcm = pcm_bytes(e.frame for e in events)
    assert_service_audio(pcm, record)  # every byte the service sent, none twice
    assert sum(e.frame.duration for e in events) == pytest.approx(record.audio_seconds, abs=0.011)
    assert all(e.frame.sample_rate == 16000 for e in events)
    assert rms(pcm) > 100  # speech, not silence
    assert events[-1].is_final


async def test_flush_ends_the_segment_and_speaks_it(
    polly_tts: TTS, local_polly: LocalPollyService
) -> None:
    stream = polly_tts.stream()
    stream.push_text("Just one short line")
    stream.flush()  # LiveKit's end of segment: no end_input needed
    events = await asyncio.wait_for(collect(stream), 20)
    await stream.aclose()
    (record,) = spoken_streams(local_polly)
    assert record.texts == ["Just one short line"]
    assert_service_audio(pcm_bytes(e.frame for e in events), record)


async def test_synthesize_speaks_one_text(polly_tts: TTS, local_polly: LocalPollyService) -> None:
    frame = await asyncio.wait_for(polly_tts.synthesize("One shot. Then another.").collect(), 20)
    (record,) = spoken_streams(local_polly)
    assert "".join(record.texts) == "One shot. Then another."
    assert_service_audio(pcm_bytes([frame]), record)
    assert frame.duration == pytest.approx(record.audio_seconds, abs=0.011)
    assert rms(pcm_bytes([frame])) > 100


async def test_aclose_mid_answer_stops_the_audio_and_the_next_turn_starts_warm(
    polly_tts: TTS, local_polly: LocalPollyService
) -> None:
    long_answer = "This is a long answer. " * 30
    stream = polly_tts.stream()
    stream.push_text(long_answer)
    arrivals: list[float] = []
    speaking = asyncio.Event()

    async def consume() -> None:
        async for _ in stream:
            arrivals.append(time.monotonic())
            speaking.set()

    consumer = asyncio.create_task(consume())
    await asyncio.wait_for(speaking.wait(), 20)
    await stream.aclose()
    closed_at = time.monotonic()
    await asyncio.sleep(0.5)
    await asyncio.wait_for(consumer, 5)
    assert arrivals, "no audio before the interruption"
    assert max(arrivals) <= closed_at  # nothing after aclose()
    (record,) = spoken_streams(local_polly)
    assert record.outcome != "completed"  # the stream was closed, not finished
    assert len("".join(record.spoken)) < len(long_answer.strip())

    # the next turn speaks at once, on a stream opened before it began
    next_turn_at = time.monotonic()
    frame = await asyncio.wait_for(polly_tts.synthesize("Next turn.").collect(), 20)
    assert frame.duration > 0
    last = spoken_streams(local_polly)[-1]
    assert last.texts == ["Next turn."]
    assert last.started < next_turn_at


async def test_a_second_turn_while_the_first_speaks_gets_its_own_session(
    polly_tts: TTS, local_polly: LocalPollyService
) -> None:
    first = polly_tts.stream()
    first.push_text("The first speaker talks for a while. " * 3)
    first.end_input()
    second = polly_tts.synthesize("The second one is short.")
    frames, heard = await asyncio.wait_for(asyncio.gather(collect(first), second.collect()), 30)
    await first.aclose()
    texts = sorted("".join(r.texts).strip() for r in spoken_streams(local_polly))
    first_text = ("The first speaker talks for a while. " * 3).strip()
    assert texts == sorted([first_text, "The second one is short."])
    assert frames
    assert heard.duration > 0


async def test_without_a_client_it_opens_the_local_service_and_closes_it() -> None:
    # no AWS credentials here (no_ambient_aws): the default backend is the local service
    tts = TTS()
    try:
        frame = await asyncio.wait_for(tts.synthesize("Hello from the default.").collect(), 30)
        assert frame.duration > 0.3
        assert rms(pcm_bytes([frame])) > 100
    finally:
        await tts.aclose()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("polly-")]


async def test_update_options_changes_the_voice_of_the_next_turn(
    polly_tts: TTS, local_polly: LocalPollyService
) -> None:
    await polly_tts.synthesize("Joanna speaks.").collect()
    polly_tts.update_options(voice="Matthew")
    await polly_tts.synthesize("Matthew speaks.").collect()
    voices = [r.params.voice_id for r in spoken_streams(local_polly)]
    assert voices == ["Joanna", "Matthew"]
