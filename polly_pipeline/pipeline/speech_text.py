"""Pipeline layer, pure core: a turn's text in, speech items out.

:class:`SpeechText` is what the ``segment`` stage decides, without the I/O: it cuts text into
segments, decides which are flushed (the :class:`~polly_pipeline.pipeline.flush.FlushPolicy`),
and keeps playback going: while less than ``policy.catch_up_below`` seconds of audio are
queued ahead of the listener (:class:`~polly_pipeline.pipeline.continuity.AudioAhead`, each
segment lasting its characters times the speaking rate from when it was sent), the sentence
being written may be cut at its next safe clause and the segment is flushed. The ``segment``
stage and the gateway's turns drive it, each with its own clock and its own way of waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from polly_pipeline.pipeline.continuity import AudioAhead
from polly_pipeline.pipeline.flush import FlushPolicy
from polly_pipeline.text.segment import Segment, Segmenter

__all__ = ["DEFAULT_SECONDS_PER_CHARACTER", "ItemReason", "SpeechItem", "SpeechText"]

ItemReason = Literal["sentence", "first_fragment", "catch_up", "max_length", "flush", "stall"]
#: Seconds of audio per character of text before a session has measured its voice.
DEFAULT_SECONDS_PER_CHARACTER = 0.07


@dataclass(frozen=True)
class SpeechItem:
    """A piece of text for the speech session, with its flush instruction."""

    text: str
    flush: bool
    reason: ItemReason


class SpeechText:
    """Text in, :class:`SpeechItem` out, for one turn (pure: the caller sends the items).

    Args:
        segmenter: cuts the text (one per turn).
        policy: when segments are flushed, and when playback needs catching up.
        seconds_per_character: the speaking rate (a session's, as it measures its voice).
    """

    def __init__(
        self,
        segmenter: Segmenter,
        policy: FlushPolicy,
        seconds_per_character: Callable[[], float] | None = None,
    ) -> None:
        self._segmenter = segmenter
        self._policy = policy
        self._rate = seconds_per_character or (lambda: DEFAULT_SECONDS_PER_CHARACTER)
        self._ahead = AudioAhead()
        self._count = 0
        self._unflushed = False  # text went out since the last flush

    @property
    def stall_due(self) -> bool:
        """Whether a quiet source should now release what is held (:meth:`release`)."""
        if not self._policy.flushes_on_stall:
            return False
        return self._unflushed or bool(self._segmenter.pending.strip())

    def feed(self, text: str, now: float) -> list[SpeechItem]:
        """The items ``text`` completes, at ``now`` (seconds on the caller's one clock)."""
        hurry = self._policy.catch_up(self._ahead.ahead(now))
        self._segmenter.hurry = hurry
        items = self._items(self._segmenter.feed(text), hurry=hurry)
        for item in items:
            self._ahead.sent(now, len(item.text.strip()) * self._rate())
        return items

    def release(self, reason: Literal["flush", "stall"]) -> list[SpeechItem]:
        """Everything held, the last item flushed (an empty flush if nothing was held)."""
        held = [seg.text for seg in self._segmenter.flush()]
        self._count += len(held)
        self._unflushed = False
        if not held:
            return [SpeechItem("", True, reason)]
        last = len(held) - 1
        return [SpeechItem(text, n == last, reason) for n, text in enumerate(held)]

    def end(self, rest: str = "") -> list[SpeechItem]:
        """The turn's text is complete (``rest``: its last text): everything still held."""
        segments = self._segmenter.feed(rest) if rest else []
        return self._items(segments + self._segmenter.flush())

    def _items(self, segments: list[Segment], *, hurry: bool = False) -> list[SpeechItem]:
        items = []
        for seg in segments:
            flush = hurry or self._policy.flush_segment(self._count)
            self._count += 1
            self._unflushed = not flush
            items.append(SpeechItem(seg.text, flush, seg.reason))
        return items
