"""Pipeline layer: when to force Polly to synthesize (flush) and when to let it buffer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from polly_pipeline.errors import ConfigurationError

__all__ = ["FlushMode", "FlushPolicy"]

FlushMode = Literal["adaptive", "every_segment", "end_only"]


@dataclass(frozen=True)
class FlushPolicy:
    """The flush policy of a speaking pipeline.

    ``adaptive`` (the default) forces the first ``first_segments`` segments of a turn, so speech
    starts at once; lets Polly buffer the middle, where its own boundaries give the best
    prosody; forces what was sent when the text source stalls for ``stall_after`` seconds (a
    model thinking or calling a tool), so nothing already written waits in silence; and ends
    the turn by closing its stream, which synthesizes the rest.
    ``every_segment`` forces every segment (lowest latency, choppier prosody); ``end_only``
    never forces before the end of the turn.

    Playback continuity (every mode but ``end_only``): while less than ``catch_up_below``
    seconds of audio are queued ahead of the listener (estimated from the speaking rate and
    the time since each segment was sent, :mod:`~polly_pipeline.pipeline.continuity`), the
    sentence being written is cut at its next safe clause (the first fragment's rules) and
    every segment is forced, so a short first sentence ("Sure.") is not followed by silence
    while a long one is written. ``0`` turns it off: sentences then go whole after the first.
    """

    mode: FlushMode = "adaptive"
    first_segments: int = 1
    stall_after: float = 0.6
    catch_up_below: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in ("adaptive", "every_segment", "end_only"):
            raise ConfigurationError(
                f"unknown flush mode {self.mode!r}; use adaptive, every_segment or end_only"
            )
        if self.first_segments < 0 or self.stall_after <= 0:
            raise ConfigurationError("first_segments must be >= 0 and stall_after > 0")
        if not self.catch_up_below >= 0:
            raise ConfigurationError(
                f"catch_up_below must be >= 0 seconds (0 turns it off), not {self.catch_up_below!r}"
            )

    def flush_segment(self, index: int) -> bool:
        """Whether segment number ``index`` (0-based, in its turn) is sent with Force."""
        if self.mode == "every_segment":
            return True
        if self.mode == "end_only":
            return False
        return index < self.first_segments

    def catch_up(self, audio_ahead: float) -> bool:
        """Whether to cut at the next clause and force, with ``audio_ahead`` seconds queued."""
        return self.mode != "end_only" and audio_ahead < self.catch_up_below

    @property
    def flushes_on_stall(self) -> bool:
        """Whether a stalled source triggers a Force flush."""
        return self.mode == "adaptive"
