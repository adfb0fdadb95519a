"""Real audio for sink tests: a tone, encoded by the package's own streaming encoders."""

from __future__ import annotations

import math
from array import array

from polly_pipeline.audio import SAMPLE_RATES, AudioChunk, AudioFormat, StreamEncoder


def tone(seconds: float, rate: int, frequency: float = 440.0) -> bytes:
    """16-bit mono PCM of a sine tone."""
    count = int(seconds * rate)
    return array(
        "h", (int(8000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(count))
    ).tobytes()


def split(data: bytes, fmt: AudioFormat, size: int, *, turn: int = 0) -> list[AudioChunk]:
    """Cut bytes into chunks of ``size`` (odd sizes split 16-bit samples across chunks)."""
    return [
        AudioChunk(data[i : i + size], fmt, turn, seq)
        for seq, i in enumerate(range(0, len(data), size))
    ]


def encoded(output_format: str, seconds: float = 1.0, pieces: int = 4) -> list[AudioChunk]:
    """A tone encoded piece by piece, as the service streams it: one chunk per encoder output."""
    rate = SAMPLE_RATES[output_format][1]
    fmt = AudioFormat(output_format, rate)
    encoder = StreamEncoder(output_format, rate)  # type: ignore[arg-type]
    pcm = tone(seconds, rate)
    step = len(pcm) // pieces // 2 * 2
    outputs = [encoder.encode(pcm[i : i + step]) for i in range(0, len(pcm), step)]
    outputs.append(encoder.flush())
    return [AudioChunk(data, fmt, 0, seq) for seq, data in enumerate(o for o in outputs if o)]
