"""Pipecat plugin: how the text Pipecat hands over becomes what a session turn is sent.

Two ways, chosen by the service's ``text_aggregation_mode``:

- this project's (the default): Pipecat streams the LLM's tokens unchanged and they go
  through polly-pipeline's own stages, :func:`~polly_pipeline.pipeline.clean` (markdown out)
  and :func:`~polly_pipeline.pipeline.segment` (sentence boundaries at the earliest character
  that settles them, a first fragment early, Force flush where the flush policy says);
- Pipecat's: its aggregator cuts the text (``SENTENCE``: whole sentences, each flushed so
  Polly speaks it at once; ``TOKEN``: tokens as they come, Polly's own boundaries decide),
  and the pieces are sent as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from pipecat.services.tts_service import TextAggregationMode
from polly_pipeline import SpeechSession
from polly_pipeline.pipeline import FlushPolicy, SpeechItem, clean, segment
from polly_pipeline.text import CleanOptions, SegmenterOptions

__all__ = ["TextPlan"]


@dataclasses.dataclass(frozen=True)
class TextPlan:
    """Which aggregator cuts the text, and the options of this project's stages.

    Attributes:
        mode: Pipecat's aggregation mode, or None for this project's cleaner and segmenter.
        clean: markdown cleaning (None: send the text unchanged); this project's mode only.
        segmenter: segmentation options; without a language, the session's (its language
            code, else its voice's language).
        flush: when to Force synthesis (default: adaptive for this project's segmenter,
            every sentence for Pipecat's ``SENTENCE``, never before the end for ``TOKEN``).
    """

    mode: TextAggregationMode | None = None
    clean: CleanOptions | None = dataclasses.field(default_factory=CleanOptions)
    segmenter: SegmenterOptions = dataclasses.field(default_factory=SegmenterOptions)
    flush: FlushPolicy | None = None

    @property
    def pipecat_mode(self) -> TextAggregationMode:
        """The mode Pipecat's aggregator runs in (``TOKEN`` hands this project raw tokens)."""
        return TextAggregationMode.TOKEN if self.mode is None else self.mode

    @property
    def flush_policy(self) -> FlushPolicy:
        """The flush policy in effect."""
        if self.flush is not None:
            return self.flush
        if self.mode is None:
            return FlushPolicy()
        return FlushPolicy(
            "every_segment" if self.mode == TextAggregationMode.SENTENCE else "end_only"
        )

    def items(self, texts: AsyncIterator[str], session: SpeechSession) -> AsyncIterator[SpeechItem]:
        """The speech items for one turn of ``session`` from the text Pipecat hands over."""
        if self.mode is not None:
            return _as_items(texts, self.flush_policy)
        options = self.segmenter
        if options.language is None:
            params = session.params
            language = params.language or "en"
            options = dataclasses.replace(options, language=language)
        cleaned = texts if self.clean is None else clean.raw(texts, self.clean)
        items: AsyncIterator[SpeechItem] = segment.raw(
            cleaned, options, self.flush_policy, lambda: session.seconds_per_character
        )
        return items


async def _as_items(texts: AsyncIterator[str], policy: FlushPolicy) -> AsyncIterator[SpeechItem]:
    count = 0
    async for text in texts:
        yield SpeechItem(text, policy.flush_segment(count), "sentence")
        count += 1
