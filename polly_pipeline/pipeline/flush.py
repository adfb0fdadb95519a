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
    """

    mode: FlushMode = "adaptive"
    first_segments: int = 1
    stall_after: float = 0.6

    def __post_init__(self) -> None:
        if self.mode not in ("adaptive", "every_segment", "end_only"):
            raise ConfigurationError(
                f"unknown flush mode {self.mode!r}; use adaptive, every_segment or end_only"
            )
        if self.first_segments < 0 or self.stall_after <= 0:
            raise ConfigurationError("first_segments must be >= 0 and stall_after > 0")

    def flush_segment(self, index: int) -> bool:
        """Whether segment number ``index`` (0-based, in its turn) is sent with Force."""
        if self.mode == "every_segment":
            return True
        if self.mode == "end_only":
            return False
        return index < self.first_segments

    @property
    def flushes_on_stall(self) -> bool:
        """Whether a stalled source triggers a Force flush."""
        return self.mode == "adaptive"
