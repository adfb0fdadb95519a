"""Session layer, pure core: the speaking-rate model (seconds of audio per character).

Learned from every stream that completes (its characters against its audio seconds). Two
readings: the smoothed rate, for pacing and for what a listener heard at barge-in; and the
slowest rate seen times a safety margin, for judging what received audio surely covers when
a turn resumes after a failure (too slow a rate resends a segment; too fast one would skip it).
"""

from __future__ import annotations

__all__ = ["RATE_MARGIN", "SpeakingRate"]

#: Safety factor on the slowest speaking rate seen, when judging what audio covers.
RATE_MARGIN = 1.3
#: Streams shorter than this many characters teach nothing (their rate is mostly edges).
_MIN_CHARACTERS = 20
#: Weight of a new measurement in the smoothed rate.
_SMOOTHING = 0.3


class SpeakingRate:
    """Seconds of audio per character, as measured so far.

    Args:
        seconds_per_character: the estimate before anything is measured.
    """

    def __init__(self, seconds_per_character: float) -> None:
        self.seconds_per_character = seconds_per_character
        self._slowest = seconds_per_character

    def learn(self, characters: int, seconds: float) -> None:
        """A stream carried ``characters`` characters as ``seconds`` of audio."""
        if characters >= _MIN_CHARACTERS and seconds > 0:
            rate = seconds / characters
            self.seconds_per_character = (
                1 - _SMOOTHING
            ) * self.seconds_per_character + _SMOOTHING * rate
            self._slowest = max(self._slowest, rate)

    @property
    def conservative(self) -> float:
        """Seconds per character used to judge what received audio surely covers."""
        return self._slowest * RATE_MARGIN
