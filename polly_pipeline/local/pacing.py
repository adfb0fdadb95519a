"""Local service layer: when synthesized audio goes out under the latency model.

The bidirectional stream and SynthesizeSpeech apply the same model: audio asked for at a
moment is released no earlier than the first-audio latency after it (and after the audio
before it on the same stream), then at the real-time factor's pace, in pieces of at most the
configured size. The one-way network delay is added by whoever writes the pieces.
"""

from __future__ import annotations

from polly_pipeline.local.config import LatencyModel

__all__ = ["paced_pieces", "release_window"]


def release_window(
    latency: LatencyModel, requested: float, busy_until: float, audio_seconds: float
) -> tuple[float, float]:
    """When audio asked for at ``requested`` starts and finishes going out (monotonic seconds).

    Args:
        latency: the service's latency model.
        requested: when the synthesis was asked for.
        busy_until: when the audio before it on the same stream finishes going out (0: none).
        audio_seconds: how long the audio plays.
    """
    start = max(requested + latency.first_audio, busy_until)
    return start, start + audio_seconds * latency.real_time_factor


def paced_pieces(data: bytes, size: int, start: float, end: float) -> list[tuple[float, bytes]]:
    """``data`` cut into pieces of at most ``size`` bytes, each with its release time.

    The pieces are spread evenly over ``start``..``end``; empty ``data`` is one empty piece at
    ``start`` (so a caller still has a moment to act on).
    """
    pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    return [(start + (end - start) * n / len(pieces), piece) for n, piece in enumerate(pieces)]
