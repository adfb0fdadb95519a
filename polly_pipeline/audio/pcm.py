"""Audio layer: small pure helpers for 16-bit little-endian PCM (no codec needed)."""

from __future__ import annotations

import io
import wave
from array import array

from polly_pipeline.errors import ConfigurationError

__all__ = ["check_pcm", "downmix", "duration_seconds", "wav_bytes"]


def check_pcm(pcm: bytes) -> None:
    """Refuse bytes that are not whole 16-bit samples.

    Raises:
        ConfigurationError: an odd number of bytes.
    """
    if len(pcm) % 2:
        raise ConfigurationError(f"16-bit PCM must have an even number of bytes, not {len(pcm)}")


def downmix(pcm: bytes, channels: int) -> bytes:
    """Average interleaved 16-bit channels into one (rounding down)."""
    if channels == 1:
        return pcm
    samples = array("h", pcm)
    lanes = [samples[lane::channels] for lane in range(channels)]
    return array("h", [sum(frame) // channels for frame in zip(*lanes, strict=True)]).tobytes()


def duration_seconds(pcm: bytes, sample_rate: int) -> float:
    """How long 16-bit mono PCM at ``sample_rate`` lasts."""
    return len(pcm) // 2 / sample_rate


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """A WAV file holding 16-bit mono PCM.

    Raises:
        ConfigurationError: ``pcm`` is not whole 16-bit samples.
    """
    check_pcm(pcm)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()
