"""Pipeline layer, pure core: how much audio is queued ahead of the listener.

A listener who starts hearing a segment when it is sent hears it for about its expected
duration (its characters times the speaking rate). :class:`AudioAhead` adds those durations
up, back to back, and says how many seconds of that audio are still to be heard at a given
time. When that figure is below :attr:`~polly_pipeline.pipeline.flush.FlushPolicy.catch_up_below`,
the segment stage lets the segmenter cut the sentence being written at its next safe clause
and sends it with a flush, so the listener does not sit in silence while a long sentence is
written; with enough audio ahead, sentences go whole (better prosody).

The estimate starts the audio at the moment the text is sent (synthesis takes a little
longer), so it errs toward too little audio ahead: toward cutting, not toward a silence.
"""

from __future__ import annotations

__all__ = ["AudioAhead"]


class AudioAhead:
    """Seconds of audio queued ahead of the listener, from what was sent and when.

    Times are seconds on any one clock (the event loop's in a pipeline).
    """

    def __init__(self) -> None:
        self._ends_at: float | None = None

    def sent(self, now: float, seconds: float) -> None:
        """Text expected to last ``seconds`` of audio was sent at ``now``."""
        start = now if self._ends_at is None else max(now, self._ends_at)
        self._ends_at = start + max(0.0, seconds)

    def ahead(self, now: float) -> float:
        """Seconds of the audio sent so far still to be heard at ``now`` (0 before any)."""
        if self._ends_at is None:
            return 0.0
        return max(0.0, self._ends_at - now)
