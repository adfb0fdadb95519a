"""Text layer: pure (sans-IO) text stages between the LLM and the speech stream.

``clean`` turns streaming markdown into speakable text; ``segment`` cuts that text into
segments to send as TextEvents. Neither does I/O; only ``segment`` imports pysbd.
"""

from __future__ import annotations

from polly_pipeline.text.clean import (
    CleanOptions,
    CodeBlockPolicy,
    MarkdownCleaner,
    clean_markdown,
)
from polly_pipeline.text.segment import (
    MAX_TEXT_EVENT_CHARS,
    Segment,
    Segmenter,
    SegmenterOptions,
    SegmentReason,
)

__all__ = [
    "MAX_TEXT_EVENT_CHARS",
    "CleanOptions",
    "CodeBlockPolicy",
    "MarkdownCleaner",
    "Segment",
    "SegmentReason",
    "Segmenter",
    "SegmenterOptions",
    "clean_markdown",
]
