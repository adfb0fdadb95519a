"""Audio layer: the audio a session delivers, as typed chunks sinks consume."""

from __future__ import annotations

from dataclasses import dataclass

from polly_pipeline.audio.formats import FORMATS

__all__ = ["AudioChunk", "AudioFormat"]


@dataclass(frozen=True)
class AudioFormat:
    """What the bytes of a chunk are: ``pcm`` is signed 16-bit little-endian mono."""

    output_format: str  # mp3 | ogg_vorbis | ogg_opus | pcm | mulaw | alaw
    sample_rate: int

    @property
    def bytes_per_second(self) -> int | None:
        """Exact byte rate for uncompressed formats, None for compressed (or unknown) ones."""
        info = FORMATS.get(self.output_format)
        return None if info is None else info.bytes_per_second(self.sample_rate)


@dataclass(frozen=True)
class AudioChunk:
    """A piece of synthesized audio, in order, tagged with the turn it belongs to.

    Attributes:
        data: encoded audio bytes (concatenating a turn's chunks gives a valid stream).
        format: the encoding and sample rate.
        turn_id: the conversation turn (0, 1, 2...) the audio belongs to.
        sequence: position of this chunk in the session (0, 1, 2...), for ordering checks.
        seconds: how much audio the chunk completes (exact; 0.0 when unknown).
    """

    data: bytes
    format: AudioFormat
    turn_id: int
    sequence: int
    seconds: float = 0.0

    def __repr__(self) -> str:
        return (
            f"AudioChunk({len(self.data)} bytes, {self.format.output_format}/"
            f"{self.format.sample_rate}, turn={self.turn_id}, seq={self.sequence})"
        )
