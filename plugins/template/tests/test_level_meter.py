"""The level-meter sink on its own: known samples in, known levels out."""

from __future__ import annotations

import io
import math
import struct

import pytest
from polly_pipeline.errors import ConfigurationError, StreamStateError
from polly_pipeline.session import AudioChunk, AudioFormat

from polly_pipeline_plugin_template import LevelMeterSink

PCM = AudioFormat("pcm", 16000)


def chunk(samples: list[int], sequence: int = 0) -> AudioChunk:
    data = struct.pack(f"<{len(samples)}h", *samples)
    return AudioChunk(data, PCM, 0, sequence, len(samples) / PCM.sample_rate)


async def test_levels_of_known_signals() -> None:
    sink = LevelMeterSink()
    await sink.write(chunk([0] * 1600))  # silence
    await sink.write(chunk([16384, -16384] * 800))  # a square wave at half scale
    await sink.close()
    silence, square = sink.levels
    assert silence.rms_dbfs == -96.0
    assert square.rms_dbfs == pytest.approx(20 * math.log10(0.5), abs=0.01)  # -6.02 dBFS
    assert square.peak_dbfs == pytest.approx(-6.02, abs=0.01)
    assert square.start == pytest.approx(0.1)
    assert sink.seconds == pytest.approx(0.2)
    assert sink.loudest is square


async def test_a_sample_split_between_chunks_is_measured_once() -> None:
    data = struct.pack("<4h", 1000, 2000, 3000, 4000)
    sink = LevelMeterSink()
    await sink.write(AudioChunk(data[:3], PCM, 0, 0))
    await sink.write(AudioChunk(data[3:], PCM, 0, 1))
    assert sink.seconds == pytest.approx(4 / 16000)


async def test_the_log_gets_one_meter_line_per_chunk_and_the_interruption() -> None:
    log = io.StringIO()
    sink = LevelMeterSink(log, width=10)
    await sink.write(chunk([32767] * 160))
    await sink.write(chunk([0] * 160))
    await sink.interrupt()
    await sink.close()
    loud, quiet, stopped = log.getvalue().splitlines()
    assert "##########" in loud
    assert "-96.0 dBFS" in quiet
    assert "#" not in quiet
    assert stopped.endswith("interrupted")
    assert sink.interrupted


async def test_compressed_audio_is_refused_with_a_hint() -> None:
    sink = LevelMeterSink()
    with pytest.raises(ConfigurationError, match="output_format='pcm'"):
        await sink.write(AudioChunk(b"\xff\xfb", AudioFormat("mp3", 24000), 0, 0))


async def test_no_writes_after_close() -> None:
    sink = LevelMeterSink()
    await sink.close()
    await sink.close()  # idempotent
    with pytest.raises(StreamStateError):
        await sink.write(chunk([1, 2]))
