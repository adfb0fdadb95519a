"""CLI layer: what ``-v`` shows: streams opened, segments sent with their times, first audio,
retries and rollovers, as log lines on standard error."""

from __future__ import annotations

import logging
from collections.abc import Callable

from polly_pipeline.pipeline import PipelineReport
from polly_pipeline.session import SessionEvent, StreamOpened, StreamRetry, StreamRollover

__all__ = ["Trace", "log"]

log = logging.getLogger("polly_pipeline.cli")


class Trace:
    """Turns session events and pipeline progress into log lines (INFO)."""

    def __init__(self) -> None:
        self._segments = 0
        self._first_audio = False

    def event(self, event: SessionEvent) -> None:
        """A session event (``SpeechSession(on_event=...)``)."""
        if isinstance(event, StreamOpened):
            log.info("stream %d opened (%s)", event.stream_number, event.purpose)
        elif isinstance(event, StreamRetry):
            log.info(
                "turn %d: stream failed (%s); retry %d in %.2f s from segment %d",
                event.turn_id,
                event.error,
                event.attempt,
                event.delay,
                event.resume_segment,
            )
        elif isinstance(event, StreamRollover):
            log.info(
                "turn %d: rollover to a fresh stream at segment %d",
                event.turn_id,
                event.next_segment,
            )

    def progress(self, report: PipelineReport) -> None:
        """Pipeline progress (``Pipeline(on_progress=...)``)."""
        if report.segments_sent < self._segments:  # a new turn
            self._segments, self._first_audio = 0, False
        while self._segments < report.segments_sent:
            self._segments += 1
            log.info(
                "segment %d sent at %.3f s (%d characters so far)",
                self._segments,
                report.elapsed(),
                report.characters_sent,
            )
        if report.time_to_first_audio is not None and not self._first_audio:
            self._first_audio = True
            log.info("first audio at %.3f s", report.time_to_first_audio)

    def reset(self) -> None:
        """A new turn starts."""
        self._segments, self._first_audio = 0, False

    def also(self, other: Callable[[PipelineReport], None]) -> Callable[[PipelineReport], None]:
        """An ``on_progress`` that calls ``other`` and traces."""

        def both(report: PipelineReport) -> None:
            other(report)
            self.progress(report)

        return both
