"""MemorySink, CallbackSink, NullSink and TeeSink."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from polly_pipeline.audio import AudioChunk, AudioFormat
from polly_pipeline.errors import ConfigurationError, StreamStateError
from polly_pipeline.sinks import (
    AudioSink,
    CallbackSink,
    MemorySink,
    NullSink,
    RawFileSink,
    TeeSink,
    WavFileSink,
)
from tests.sinks.audio_helpers import encoded, split, tone

PCM = AudioFormat("pcm", 16000)


async def test_memory_sink_keeps_chunks_and_measures_pcm_exactly() -> None:
    pcm = tone(0.75, 16000)
    sink = MemorySink()
    assert sink.duration_seconds() == 0.0
    for chunk in split(pcm, PCM, 4000):
        await sink.write(chunk)
    assert sink.data == pcm
    assert [c.sequence for c in sink.chunks] == list(range(len(sink.chunks)))
    assert sink.duration_seconds() == 0.75
    assert sink.format == PCM


@pytest.mark.parametrize("fmt", ["mp3", "ogg_vorbis", "ogg_opus", "mulaw"])
async def test_memory_sink_decodes_compressed_audio_to_measure_it(fmt: str) -> None:
    sink = MemorySink()
    for chunk in encoded(fmt, seconds=1.0):
        await sink.write(chunk)
    seconds = sink.duration_seconds()
    assert seconds is not None
    assert 0.9 < seconds < 1.2


async def test_memory_sink_says_none_when_the_audio_cannot_be_decoded() -> None:
    sink = MemorySink()
    await sink.write(AudioChunk(b"definitely not mp3", AudioFormat("mp3", 24000), 0, 0))
    assert sink.duration_seconds() is None


async def test_callback_sink_takes_plain_and_async_functions() -> None:
    seen: list[int] = []

    def plain(chunk: AudioChunk) -> None:
        seen.append(chunk.sequence)

    async def later(chunk: AudioChunk) -> None:
        await asyncio.sleep(0)
        seen.append(-chunk.sequence)

    chunks = split(tone(0.1, 16000), PCM, 1000)
    for fn in (plain, later):
        async with CallbackSink(fn) as sink:
            for chunk in chunks:
                await sink.write(chunk)
    count = len(chunks)
    assert seen == list(range(count)) + [-i for i in range(count)]


async def test_null_sink_counts() -> None:
    sink = NullSink()
    for chunk in split(tone(0.1, 16000), PCM, 1000):
        await sink.write(chunk)
    assert (sink.chunks_written, sink.bytes_written) == (4, 3200)
    await sink.close()
    with pytest.raises(StreamStateError):
        await sink.write(AudioChunk(b"", PCM, 0, 0))


async def test_every_sink_is_an_audio_sink(tmp_path: Path) -> None:
    sinks: list[object] = [
        MemorySink(),
        NullSink(),
        CallbackSink(print),
        WavFileSink(tmp_path / "a.wav"),
        RawFileSink(tmp_path / "a.mp3"),
        TeeSink(NullSink()),
    ]
    assert all(isinstance(sink, AudioSink) for sink in sinks)


async def test_tee_gives_every_sink_every_chunk() -> None:
    first, second = MemorySink(), MemorySink()
    chunks = split(tone(0.2, 16000), PCM, 1000)
    async with TeeSink(first, second) as tee:
        for chunk in chunks:
            await tee.write(chunk)
    assert first.chunks == second.chunks == chunks
    assert first.closed
    assert second.closed


async def test_one_failing_sink_does_not_starve_the_others() -> None:
    def broken(chunk: AudioChunk) -> None:
        raise OSError("speaker unplugged")

    before, after = MemorySink(), MemorySink()
    tee = TeeSink(before, CallbackSink(broken), after)
    chunk = AudioChunk(b"\0\0", PCM, 0, 0)
    with pytest.raises(OSError, match="speaker unplugged"):
        await tee.write(chunk)
    assert before.chunks == after.chunks == [chunk]
    await tee.close()
    assert before.closed
    assert after.closed


async def test_tee_close_closes_all_then_raises_the_first_error() -> None:
    class FailsToClose(NullSink):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        async def _close(self) -> None:
            raise RuntimeError(self.name)

    last = MemorySink()
    tee = TeeSink(FailsToClose("first"), FailsToClose("second"), last)
    with pytest.raises(RuntimeError, match="first"):
        await tee.close()
    assert last.closed
    await tee.close()  # idempotent
    with pytest.raises(StreamStateError):
        await tee.write(AudioChunk(b"", PCM, 0, 0))


def test_tee_needs_a_sink() -> None:
    with pytest.raises(ConfigurationError):
        TeeSink()
