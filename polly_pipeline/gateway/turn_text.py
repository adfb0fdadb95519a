"""Gateway layer: one turn's text as it arrives in messages, turned into speech items.

In ``clean`` mode the text goes through the project's markdown cleaner and the pipeline's own
core (:class:`~polly_pipeline.pipeline.speech_text.SpeechText`: segmenter, adaptive flush
policy, playback catch-up), exactly as :class:`~polly_pipeline.pipeline.Pipeline` speaks a
model's tokens; a client's ``flush`` releases what the segmenter holds at once. In ``raw`` mode
every message is one TextEvent, flushed when the client says so.
"""

from __future__ import annotations

from collections.abc import Callable

from polly_pipeline.pipeline.flush import FlushPolicy
from polly_pipeline.pipeline.speech_text import SpeechItem, SpeechText
from polly_pipeline.text.clean import MarkdownCleaner
from polly_pipeline.text.segment import Segmenter, SegmenterOptions

__all__ = ["TurnText"]


class TurnText:
    """Text messages in, :class:`SpeechItem` out (pure; the caller sends them).

    Args:
        clean: clean and segment (True) or send messages as they are (False).
        language: the segmenter's language (a Polly code such as ``de-DE``).
        policy: when segments are flushed, and when playback needs catching up.
        clock: seconds on one monotonic clock (the event loop's), read as text arrives.
        seconds_per_character: the speaking rate (the conversation's session's).
    """

    def __init__(
        self,
        *,
        clean: bool,
        language: str,
        policy: FlushPolicy,
        clock: Callable[[], float],
        seconds_per_character: Callable[[], float] | None = None,
    ) -> None:
        self._clean = clean
        self._cleaner = MarkdownCleaner()
        self._text = SpeechText(
            Segmenter(SegmenterOptions(language=language)), policy, seconds_per_character
        )
        self._clock = clock

    @property
    def waiting(self) -> bool:
        """Whether text is held or went out unflushed (a stall should then flush it)."""
        return self._clean and self._text.stall_due

    def feed(self, text: str, *, flush: bool) -> list[SpeechItem]:
        """The items one message gives."""
        if not self._clean:
            return (
                [SpeechItem(text, flush, "flush" if flush else "sentence")] if text or flush else []
            )
        items = self._text.feed(self._cleaner.feed(text), self._clock())
        if flush:
            items += self._text.release("flush")
        return items

    def stall(self) -> list[SpeechItem]:
        """The source went quiet: what is held, flushed."""
        return self._text.release("stall")

    def end(self) -> list[SpeechItem]:
        """The turn's text is complete: everything still held."""
        if not self._clean:
            return []
        return self._text.end(self._cleaner.flush())
