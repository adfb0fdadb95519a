"""Gateway layer: one turn's text as it arrives in messages, turned into speech items.

In ``clean`` mode the text goes through the project's markdown cleaner and segmenter and the
adaptive flush policy, exactly as :class:`~polly_pipeline.pipeline.Pipeline` speaks a model's
tokens; a client's ``flush`` releases what the segmenter holds at once. In ``raw`` mode every
message is one TextEvent, flushed when the client says so.
"""

from __future__ import annotations

from polly_pipeline.pipeline.flush import FlushPolicy
from polly_pipeline.pipeline.stages import SpeechItem
from polly_pipeline.text.clean import MarkdownCleaner
from polly_pipeline.text.segment import Segment, Segmenter, SegmenterOptions

__all__ = ["TurnText"]


class TurnText:
    """Text messages in, :class:`SpeechItem` out (pure; the caller sends them).

    Args:
        clean: clean and segment (True) or send messages as they are (False).
        language: the segmenter's language (a Polly code such as ``de-DE``).
        policy: when segments are flushed.
    """

    def __init__(self, *, clean: bool, language: str, policy: FlushPolicy) -> None:
        self._clean = clean
        self._cleaner = MarkdownCleaner()
        self._segmenter = Segmenter(SegmenterOptions(language=language))
        self._policy = policy
        self._count = 0
        self._unflushed = False

    @property
    def waiting(self) -> bool:
        """Whether text is held or went out unflushed (a stall should then flush it)."""
        if not self._clean or not self._policy.flushes_on_stall:
            return False
        return self._unflushed or bool(self._segmenter.pending.strip())

    def feed(self, text: str, *, flush: bool) -> list[SpeechItem]:
        """The items one message gives."""
        if not self._clean:
            return (
                [SpeechItem(text, flush, "flush" if flush else "sentence")] if text or flush else []
            )
        items = self._items(self._segmenter.feed(self._cleaner.feed(text)))
        if flush:
            items += self._release("flush")
        return items

    def stall(self) -> list[SpeechItem]:
        """The source went quiet: what is held, flushed."""
        return self._release("stall")

    def end(self) -> list[SpeechItem]:
        """The turn's text is complete: everything still held."""
        if not self._clean:
            return []
        segments = self._segmenter.feed(self._cleaner.flush()) + self._segmenter.flush()
        return self._items(segments)

    def _items(self, segments: list[Segment]) -> list[SpeechItem]:
        items = []
        for seg in segments:
            flush = self._policy.flush_segment(self._count)
            self._count += 1
            self._unflushed = not flush
            items.append(SpeechItem(seg.text, flush, seg.reason))
        return items

    def _release(self, reason: str) -> list[SpeechItem]:
        held = [s.text for s in self._segmenter.flush()]
        self._count += len(held)
        self._unflushed = False
        if not held:
            return [SpeechItem("", True, "stall" if reason == "stall" else "flush")]
        last = len(held) - 1
        return [
            SpeechItem(text, n == last, "stall" if reason == "stall" else "flush")
            for n, text in enumerate(held)
        ]
