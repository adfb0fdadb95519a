"""WavFileSink: a valid WAV file after every chunk, read back with the stdlib and FFmpeg."""

from __future__ import annotations

import asyncio
import io
import signal
import struct
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import av
import pytest

from polly_pipeline.audio import AudioChunk, AudioFormat, decode_audio
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError, StreamStateError
from polly_pipeline.protocol.events import AudioEvent
from polly_pipeline.sinks import AudioSink, WavFileSink
from tests.sinks.audio_helpers import encoded, split, tone

PCM = AudioFormat("pcm", 16000)


def read_wav(path: Path) -> tuple[wave._wave_params, bytes]:
    with wave.open(str(path), "rb") as wav:
        return wav.getparams(), wav.readframes(wav.getnframes())


async def test_pcm_chunks_become_a_wav_the_stdlib_reads(tmp_path: Path) -> None:
    pcm = tone(1.0, 16000)
    path = tmp_path / "answer.wav"
    sink = WavFileSink(path)
    assert isinstance(sink, AudioSink)
    for chunk in split(pcm, PCM, 3001):  # odd sizes: samples split across chunks
        await sink.write(chunk)
    await sink.close()
    params, frames = read_wav(path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 16000)
    assert frames == pcm
    assert path.stat().st_size == 44 + len(pcm)


async def test_the_file_is_valid_after_every_chunk(tmp_path: Path) -> None:
    pcm = tone(0.5, 16000)
    path = tmp_path / "live.wav"
    sink = WavFileSink(path)
    assert not path.exists()  # nothing is created before audio arrives
    written = 0
    for chunk in split(pcm, PCM, 1601):
        await sink.write(chunk)
        written += len(chunk.data)
        _, frames = read_wav(path)  # no close: a reader (or a crash) sees a valid file
        assert frames == pcm[: written // 2 * 2]
    await sink.close()
    await sink.close()  # idempotent
    assert read_wav(path)[1] == pcm


def test_a_killed_writer_leaves_a_valid_wav(tmp_path: Path) -> None:
    path = tmp_path / "killed.wav"
    child = textwrap.dedent(f"""
        import asyncio
        from polly_pipeline.session.chunks import AudioChunk, AudioFormat
        from polly_pipeline.sinks import WavFileSink

        PATTERN = bytes(range(256)) * 13  # 3328 bytes

        async def main():
            sink = WavFileSink({str(path)!r})
            for seq in range(10_000):
                data = PATTERN[: 3001 + seq % 2]
                await sink.write(AudioChunk(data, AudioFormat("pcm", 16000), 0, seq))
                print(seq, flush=True)
                await asyncio.sleep(0.005)

        asyncio.run(main())
    """)
    with subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        for _ in range(20):
            proc.stdout.readline()
        proc.send_signal(signal.SIGKILL)  # no close(), no flush, no atexit
        proc.wait()
    params, frames = read_wav(path)
    assert params.framerate == 16000
    assert len(frames) >= 20 * 3001 - 1
    pattern = bytes(range(256)) * 13
    expected = b"".join(pattern[: 3001 + seq % 2] for seq in range(len(frames) // 3001 + 1))
    assert frames == expected[: len(frames)]


async def test_a_cancelled_writer_leaves_a_valid_wav(tmp_path: Path) -> None:
    path = tmp_path / "cancelled.wav"
    pcm = tone(3.0, 16000)
    sink = WavFileSink(path)
    halfway = asyncio.Event()

    async def write_all() -> None:
        for chunk in split(pcm, PCM, 999):
            await sink.write(chunk)
            if chunk.sequence == 20:
                halfway.set()
            await asyncio.sleep(0.001)

    task = asyncio.create_task(write_all())
    await halfway.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    _, before_close = read_wav(path)
    assert 0 < len(before_close) < len(pcm)
    await sink.close()
    _, frames = read_wav(path)
    assert frames == before_close == pcm[: len(frames)]


@pytest.mark.parametrize(("fmt", "tag"), [("mulaw", 7), ("alaw", 6)])
async def test_g711_is_kept_as_8_bit_wav(tmp_path: Path, fmt: str, tag: int) -> None:
    chunks = encoded(fmt, seconds=0.5)
    raw = b"".join(c.data for c in chunks)
    chunks.append(AudioChunk(b"\xd5", chunks[0].format, 0, len(chunks)))  # odd total length
    raw += b"\xd5"
    path = tmp_path / f"{fmt}.wav"
    async with WavFileSink(path) as sink:
        for chunk in chunks:
            await sink.write(chunk)
    data = path.read_bytes()
    assert data[:4] == b"RIFF"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    assert len(data) % 2 == 0  # padded to an even size
    format_tag, channels, rate, byte_rate, block, bits = struct.unpack_from("<HHIIHH", data, 20)
    assert (format_tag, channels, rate, byte_rate, block, bits) == (tag, 1, 8000, 8000, 1, 8)
    assert data[38:42] == b"fact"
    assert struct.unpack_from("<I", data, 46)[0] == len(raw)  # fact: sample count
    assert data[50:54] == b"data"
    assert struct.unpack_from("<I", data, 54)[0] == len(raw)
    # FFmpeg reads it as G.711 and gets the same samples as the raw stream
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == ("pcm_mulaw" if fmt == "mulaw" else "pcm_alaw")
        samples = sum(frame.samples for frame in container.decode(stream))
    assert samples == len(raw)
    assert len(decode_audio(raw, fmt, 8000)) == 2 * len(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["mp3", "ogg_vorbis", "ogg_opus"])
async def test_compressed_audio_is_refused_with_advice(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "answer.wav"
    sink = WavFileSink(path)
    with pytest.raises(ConfigurationError) as caught:
        await sink.write(encoded(fmt)[0])
    message = str(caught.value)
    assert "pcm" in message
    assert "RawFileSink" in message
    assert not path.exists()
    await sink.close()


async def test_a_format_change_is_refused_and_the_file_stays_valid(tmp_path: Path) -> None:
    path = tmp_path / "mixed.wav"
    async with WavFileSink(path) as sink:
        await sink.write(AudioChunk(tone(0.1, 16000), PCM, 0, 0))
        with pytest.raises(ConfigurationError, match="pcm/8000 Hz audio after pcm/16000 Hz"):
            await sink.write(AudioChunk(tone(0.1, 8000), AudioFormat("pcm", 8000), 0, 1))
    params, frames = read_wav(path)
    assert params.framerate == 16000
    assert frames == tone(0.1, 16000)


async def test_writing_after_close_is_a_state_error(tmp_path: Path) -> None:
    sink = WavFileSink(tmp_path / "a.wav")
    await sink.close()
    with pytest.raises(StreamStateError):
        await sink.write(AudioChunk(b"\0\0", PCM, 0, 0))


async def test_speech_from_the_local_service_into_a_wav(
    polly: PollyStreamingClient, tmp_path: Path
) -> None:
    path = tmp_path / "speech.wav"
    async with (
        WavFileSink(path) as sink,
        polly.open_stream(voice_id="Joanna", output_format="pcm", sample_rate=16000) as stream,
    ):
        await stream.send_text("Audio goes to the file while it streams.", flush=True)
        await stream.end_input()
        seq = 0
        async for event in stream:
            if isinstance(event, AudioEvent):
                await sink.write(AudioChunk(event.audio_chunk, PCM, 0, seq))
                seq += 1
    params, frames = read_wav(path)
    assert seq > 1
    assert 1.0 < len(frames) / 2 / params.framerate < 6.0
