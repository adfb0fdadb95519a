"""SpeakerSink on miniaudio's real null backend (real-time, no sound card) and the local service."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from array import array

import pytest
from polly_pipeline_speaker import PlaybackStats, SpeakerSink, available_devices

from polly_pipeline.audio import AudioChunk, AudioFormat, StreamEncoder, decode_audio
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError, StreamStateError
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.plugins import load
from polly_pipeline.sinks import CallbackSink, MemorySink

from .conftest import session_for, tokens

ANSWER = (
    "Sound travels as a wave of pressure. In air it covers about 343 metres each second. "
    "Warmer air carries it a little faster. That is why a distant train sounds clearer on "
    "a summer evening."
)
PERIOD = 0.02  # the sink's default device period: the granularity of playback
NULL = ["null"]


def samples(pcm: bytes) -> array[int]:
    return array("h", pcm)


def tone(seconds: float, rate: int, level: int = 12000) -> bytes:
    count = int(seconds * rate)
    return array(
        "h", (int(level * math.sin(2 * math.pi * 440 * i / rate)) for i in range(count))
    ).tobytes()


def pcm_chunks(pcm: bytes, rate: int, size: int = 3201) -> list[AudioChunk]:
    """16-bit PCM cut into chunks of an odd size (samples split across chunks)."""
    fmt = AudioFormat("pcm", rate)
    return [
        AudioChunk(pcm[i : i + size], fmt, 0, seq, seconds=len(pcm[i : i + size]) / 2 / rate)
        for seq, i in enumerate(range(0, len(pcm), size))
    ]


def assert_fades_out(rendered: bytes, original: bytes, fade_frames: int) -> None:
    """``rendered`` is ``original`` up to some point, then ramps down to zero over the fade."""
    out, src = samples(rendered), samples(original)
    cut = len(out) - fade_frames
    assert cut > 0, "nothing was played before the fade"
    assert out[:cut] == src[:cut], "the audio before the fade is not what was delivered"
    for i in range(fade_frames):
        expected = (src[cut + i] if cut + i < len(src) else 0) * (fade_frames - 1 - i) / fade_frames
        assert abs(out[cut + i] - expected) <= 1, f"sample {i} of the fade is off the ramp"
    assert out[-1] == 0  # it ends in silence, not on a sample of the signal


async def test_plays_the_answer_in_real_time_without_underruns(
    polly: PollyStreamingClient,
) -> None:
    speaker = SpeakerSink(backends=NULL, jitter_buffer=0.5, record=True)
    memory = MemorySink()
    started = time.monotonic()
    async with session_for(polly, output_format="pcm") as session:
        report = await Pipeline(session).run(tokens(ANSWER), speaker, memory)
    elapsed = time.monotonic() - started
    stats = speaker.stats
    assert speaker.closed
    assert speaker.backend == "Null"
    # everything delivered was played, exactly, at the pace of a real device
    assert stats.played_seconds == pytest.approx(report.audio_seconds, abs=PERIOD)
    assert report.audio_seconds > 5
    assert speaker.rendered == memory.data
    assert elapsed >= report.audio_seconds
    # the source kept ahead of playback: the jitter buffer never ran dry
    assert stats.underruns == 0
    assert stats.underrun_seconds == 0
    assert stats.start_latency is not None
    assert 0 <= stats.start_latency < report.audio_seconds
    assert stats.queued_seconds == 0
    assert not stats.interrupted


async def test_a_source_stalling_longer_than_the_buffer_causes_counted_underruns(
    polly: PollyStreamingClient,
) -> None:
    text = "Hi there. The model paused for a long time before this sentence."
    speaker = SpeakerSink(backends=NULL, jitter_buffer=0.2, record=True)
    memory = MemorySink()
    async with session_for(polly, output_format="pcm") as session:
        report = await Pipeline(session).run(
            tokens(text, stall_at="The model", stall=3.0), speaker, memory
        )
    stats = speaker.stats
    assert stats.underruns >= 1
    # "Hi there." lasts well under the 3 s stall: most of the stall is heard as silence
    assert stats.underrun_seconds > 0.5
    assert stats.played_seconds == pytest.approx(report.audio_seconds, abs=PERIOD)
    # the silence is in what the device rendered, and every delivered sample is there too
    assert len(speaker.rendered) / 2 / 16000 == pytest.approx(
        stats.played_seconds + stats.underrun_seconds, abs=PERIOD
    )


async def test_the_jitter_buffer_holds_playback_until_it_is_full() -> None:
    rate = 16000
    speaker = SpeakerSink(backends=NULL, jitter_buffer=0.5)
    chunks = pcm_chunks(tone(1.0, rate), rate, size=3200)  # 0.1 s each
    for chunk in chunks[:4]:  # 0.4 s: below the jitter buffer
        await speaker.write(chunk)
    await asyncio.sleep(0.3)
    waiting = speaker.stats
    assert waiting.played_seconds == 0
    assert waiting.start_latency is None
    for chunk in chunks[4:]:
        await speaker.write(chunk)
    await speaker.close()
    assert speaker.stats.played_seconds == pytest.approx(1.0)
    assert speaker.stats.underruns == 0
    latency = speaker.stats.start_latency
    assert latency is not None
    assert latency >= 0.3


async def test_a_short_answer_below_the_jitter_buffer_is_played_on_close() -> None:
    rate = 8000
    speaker = SpeakerSink(backends=NULL, jitter_buffer=2.0, record=True)
    pcm = tone(0.3, rate)
    for chunk in pcm_chunks(pcm, rate):
        await speaker.write(chunk)
    async with asyncio.timeout(5):
        await speaker.close()
    assert speaker.rendered == pcm
    assert speaker.stats.underruns == 0


async def test_interrupt_fades_out_and_drops_the_rest() -> None:
    rate = 16000
    pcm = tone(3.0, rate)
    speaker = SpeakerSink(backends=NULL, jitter_buffer=0.1, fade_out=0.05, record=True)
    for chunk in pcm_chunks(pcm, rate):
        await speaker.write(chunk)
    await asyncio.sleep(0.4)
    async with asyncio.timeout(1.0):  # the fade is 50 ms: interrupt returns promptly
        await speaker.interrupt()
    await speaker.write(pcm_chunks(pcm, rate)[0])  # ignored after an interrupt
    await speaker.close()
    stats = speaker.stats
    assert stats.interrupted
    assert 0.3 < stats.played_seconds < 2.0
    assert stats.dropped_seconds == pytest.approx(3.0 - stats.played_seconds, abs=PERIOD)
    assert_fades_out(speaker.rendered, pcm, fade_frames=int(0.05 * rate))
    # a loud tone was cut: the fade starts near full level (no click from a hard cut)
    fade = samples(speaker.rendered)[-800:]
    assert max(map(abs, fade[:80])) > 9000
    assert max(map(abs, fade[-80:])) < 1500


@pytest.mark.parametrize(
    ("gap", "when"),
    [
        (0.05, "while the answer still streams: Pipeline.run calls interrupt()"),
        (0.002, "after the last chunk, while close() plays out the queue"),
    ],
)
async def test_barge_in_cancelling_the_pipeline_fades_the_speaker(
    polly: PollyStreamingClient, gap: float, when: str
) -> None:
    speaker = SpeakerSink(backends=NULL, jitter_buffer=0.3, fade_out=0.03, record=True)
    memory = MemorySink()
    first_audio = asyncio.Event()
    notify = CallbackSink(lambda chunk: first_audio.set())
    async with session_for(polly, output_format="pcm") as session:
        pipeline = Pipeline(session)
        run = asyncio.create_task(pipeline.run(tokens(ANSWER, gap=gap), speaker, memory, notify))
        async with asyncio.timeout(20):
            await first_audio.wait()
        await asyncio.sleep(1.8)  # the jitter buffer fills, then about 1.5 s play
        streaming = pipeline.last_report is not None and pipeline.last_report.total_seconds == 0
        assert streaming == (gap > 0.01), when
        run.cancel()
        async with asyncio.timeout(2.0):  # the fade is 30 ms: the run ends promptly
            with pytest.raises(asyncio.CancelledError):
                await run
        # the session speaks the next turn
        after = MemorySink()
        await Pipeline(session).run("A new question gets an answer.", after)
    assert (after.duration_seconds() or 0) > 0.5
    stats = speaker.stats
    assert speaker.closed
    assert stats.interrupted
    assert stats.underruns == 0
    assert stats.dropped_seconds > 0.5
    assert 1.0 <= stats.played_seconds < len(memory.data) / 2 / 16000
    assert_fades_out(speaker.rendered, memory.data, fade_frames=int(0.03 * 16000))
    with pytest.raises(StreamStateError, match="closed"):
        await speaker.write(memory.chunks[0])


@pytest.mark.parametrize(("output_format", "rate"), [("mp3", 24000), ("ogg_opus", 48000)])
async def test_compressed_speech_is_decoded_and_played_to_its_length(
    polly: PollyStreamingClient, output_format: str, rate: int
) -> None:
    speaker = SpeakerSink(backends=NULL, record=True)
    memory = MemorySink()
    async with session_for(polly, output_format=output_format, sample_rate=rate) as session:
        await Pipeline(session).run(tokens(ANSWER[:84]), speaker, memory)  # two sentences
    pcm = decode_audio(memory.data, output_format, rate)  # type: ignore[arg-type]
    assert speaker.sample_rate == rate
    assert speaker.rendered == pcm
    assert speaker.stats.played_seconds == pytest.approx(len(pcm) / 2 / rate, abs=PERIOD)
    assert speaker.stats.played_seconds > 2
    assert speaker.stats.underruns == 0


async def test_g711_is_expanded_and_played() -> None:
    rate = 8000
    pcm = tone(0.5, rate)
    encoder = StreamEncoder("mulaw", rate)
    data = encoder.encode(pcm) + encoder.flush()
    fmt = AudioFormat("mulaw", rate)
    speaker = SpeakerSink(backends=NULL, record=True)
    for seq, i in enumerate(range(0, len(data), 999)):
        await speaker.write(AudioChunk(data[i : i + 999], fmt, 0, seq))
    await speaker.close()
    assert speaker.rendered == decode_audio(data, "mulaw", rate)
    assert speaker.stats.played_seconds == pytest.approx(0.5)


async def test_close_without_audio_and_twice_is_harmless() -> None:
    speaker = SpeakerSink(backends=NULL)
    await speaker.interrupt()
    await speaker.close()
    await speaker.close()
    assert speaker.stats == PlaybackStats()
    assert speaker.backend is None


async def test_async_with_drains_and_closes() -> None:
    rate = 16000
    pcm = tone(0.4, rate)
    async with SpeakerSink(backends=NULL, record=True) as speaker:
        for chunk in pcm_chunks(pcm, rate):
            await speaker.write(chunk)
    assert speaker.closed
    assert speaker.rendered == pcm


def test_is_registered_as_the_speaker_sink_plugin() -> None:
    assert load("sinks", "speaker") is SpeakerSink


def test_the_null_backend_lists_its_device() -> None:
    assert available_devices(NULL) == ["NULL Playback Device"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"backends": ["nosuch"]}, r"unknown audio backend 'nosuch'; known: .*null"),
        ({"backends": []}, r"backends=\[\]\) names no backend"),
        ({"jitter_buffer": -0.1}, r"jitter_buffer=-0.1\) is out of range"),
        ({"fade_out": 5}, r"fade_out=5\) is out of range"),
        ({"fade_out": "soft"}, r"fade_out=\.\.\.\) must be a number of seconds"),
        ({"period": 0}, r"period=0\) is out of range"),
        ({"device": ""}, r"device=\.\.\.\) must be a device name or None"),
    ],
)
def test_bad_options_are_named(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        SpeakerSink(**options)  # type: ignore[arg-type]


async def test_an_unknown_device_lists_the_available_ones() -> None:
    speaker = SpeakerSink(device="Studio Monitors", backends=NULL)
    chunk = pcm_chunks(tone(0.1, 16000), 16000)[0]
    with pytest.raises(
        ConfigurationError,
        match=r"device='Studio Monitors'\) names no playback device of "
        r"backends=\['null'\]; available: 'NULL Playback Device'",
    ):
        await speaker.write(chunk)
    await speaker.close()


async def test_a_backend_this_platform_lacks_is_a_configuration_error() -> None:
    missing = "coreaudio" if sys.platform != "darwin" else "wasapi"
    speaker = SpeakerSink(backends=[missing])
    chunk = pcm_chunks(tone(0.1, 16000), 16000)[0]
    with pytest.raises(ConfigurationError, match=rf"backends=\['{missing}'\].*backends=\['null'\]"):
        await speaker.write(chunk)
    await speaker.close()


def test_stats_are_frozen_numbers() -> None:
    stats = PlaybackStats()
    with pytest.raises(AttributeError):
        stats.underruns = 1  # type: ignore[misc]
