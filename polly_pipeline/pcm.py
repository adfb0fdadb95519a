"""Small pure helpers for 16-bit little-endian PCM, shared by the players and the local service."""

from __future__ import annotations

import io
import wave
from array import array

__all__ = ["downmix", "wav_bytes"]


def downmix(pcm: bytes, channels: int) -> bytes:
    """Average interleaved 16-bit channels into one (rounding down)."""
    if channels == 1:
        return pcm
    samples = array("h", pcm)
    lanes = [samples[lane::channels] for lane in range(channels)]
    return array("h", [sum(frame) // channels for frame in zip(*lanes, strict=True)]).tobytes()


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """A WAV file holding 16-bit mono PCM."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()
