"""Pipeline layer: run a text source through the stages into sinks, and report how it went.

::

    async with SpeechSession(client, voice_id="Joanna") as session:
        report = await Pipeline(session).run(llm_tokens, WavFileSink("answer.wav"))
    print(report.summary())
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiostream import Stream, stream

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.pipeline.flush import FlushPolicy
from polly_pipeline.pipeline.stages import SpeechItem, clean, segment, speak
from polly_pipeline.session.events import TurnMetrics
from polly_pipeline.session.session import SpeechSession
from polly_pipeline.sinks import AudioSink
from polly_pipeline.sinks.base import interrupt_sink
from polly_pipeline.text.clean import CleanOptions
from polly_pipeline.text.segment import SegmenterOptions

__all__ = ["Pipeline", "PipelineReport", "Source"]

#: What a pipeline speaks: a whole text, or text pieces as they come (sync or async).
Source = str | Iterable[str] | AsyncIterable[str]


@dataclass
class PipelineReport:
    """Timings (seconds from the start of the run) and counts of one pipeline run.

    The same object is updated while the run goes on; ``on_progress`` receives it.
    """

    tokens_in: int = 0
    characters_in: int = 0
    segments_sent: int = 0
    characters_sent: int = 0
    flushes: int = 0
    audio_chunks: int = 0
    audio_bytes: int = 0
    audio_seconds: float = 0.0
    time_to_first_token: float | None = None
    time_to_first_segment: float | None = None
    time_to_first_audio: float | None = None
    source_finished_after: float | None = None
    total_seconds: float = 0.0
    turn: TurnMetrics | None = None
    started_at: float = field(default_factory=time.monotonic, repr=False)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started_at

    @property
    def audio_started_before_source_finished(self) -> bool:
        """True when the first audio arrived before the source (the LLM) was done."""
        return (
            self.time_to_first_audio is not None
            and self.source_finished_after is not None
            and self.time_to_first_audio < self.source_finished_after
        )

    def summary(self) -> str:
        """One line for people."""

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1000:.0f} ms"

        return (
            f"{self.tokens_in} tokens in, {self.segments_sent} segments "
            f"({self.characters_sent} characters) sent, {self.audio_seconds:.1f} s of audio out | "
            f"first token {ms(self.time_to_first_token)}, first audio "
            f"{ms(self.time_to_first_audio)}, source done {ms(self.source_finished_after)}, "
            f"total {ms(self.total_seconds)}"
        )


class Pipeline:
    """Speaks a text source through a session into sinks: clean, segment, speak, deliver.

    Args:
        session: the speech session (one pipeline run is one turn of it).
        clean: markdown cleaning options; ``False`` sends the text unchanged.
        segmenter: segmentation options. Without a ``language`` the segmenter follows the
            session: its ``language_code``, else its voice's language (Vicki: German).
        flush: the flush policy (adaptive by default).
        on_progress: called with the live report after every token, segment and chunk.
    """

    def __init__(
        self,
        session: SpeechSession,
        *,
        clean: CleanOptions | bool = True,
        segmenter: SegmenterOptions | None = None,
        flush: FlushPolicy | None = None,
        on_progress: Callable[[PipelineReport], None] | None = None,
    ) -> None:
        self.session = session
        self.clean_options = CleanOptions() if clean is True else None if clean is False else clean
        options = segmenter or SegmenterOptions()
        if options.language is None:
            params = session.params
            language = params.language or "en"
            options = dataclasses.replace(options, language=language)
        self.segmenter = options
        self.flush = flush or FlushPolicy()
        self.on_progress = on_progress
        self.last_report: PipelineReport | None = None

    def _progress(self, report: PipelineReport) -> None:
        if self.on_progress is not None:
            self.on_progress(report)

    async def run(self, source: Source, *sinks: AudioSink) -> PipelineReport:
        """Speak ``source`` into every sink; returns the report (also on :attr:`last_report`).

        Sinks receive chunks as they arrive and are closed in every case, so their output is
        valid even when the run fails; the error (an LLM failure, a session giving up) is raised
        after the audio of the text received so far was delivered. Cancelling the run is a
        barge-in: the turn is interrupted, and sinks that have an ``interrupt()`` method (a
        player) are told to stop output at once before they are closed.
        """
        if not sinks:
            raise ConfigurationError("Pipeline.run needs at least one sink (e.g. MemorySink())")
        report = PipelineReport()
        self.last_report = report
        texts = self._count_source(_as_async(source), report)
        items = stream.iterate(texts)
        if self.clean_options is not None:
            items = items | clean.pipe(self.clean_options)
        segments = items | segment.pipe(
            self.segmenter, self.flush, lambda: self.session.seconds_per_character
        )
        audio = stream.iterate(self._count_items(segments, report)) | speak.pipe(self.session)
        interrupted = False
        try:
            async with audio.stream() as chunks:
                async for chunk in chunks:
                    now = report.elapsed()
                    if report.time_to_first_audio is None:
                        report.time_to_first_audio = now
                    report.audio_chunks += 1
                    report.audio_bytes += len(chunk.data)
                    report.audio_seconds += chunk.seconds
                    await asyncio.gather(*(sink.write(chunk) for sink in sinks))
                    self._progress(report)
        except asyncio.CancelledError:
            interrupted = True  # barge-in: players stop now instead of draining
            raise
        finally:
            report.total_seconds = report.elapsed()
            if interrupted:
                await asyncio.gather(*map(interrupt_sink, sinks), return_exceptions=True)
            report.turn = self.session.turns[-1] if self.session.turns else None
            errors = await _close_sinks(sinks)
            self._progress(report)
        for error in errors:
            if isinstance(error, BaseException):
                raise error
        return report

    async def _count_source(
        self, source: AsyncIterator[str], report: PipelineReport
    ) -> AsyncIterator[str]:
        try:
            async for text in source:
                if not isinstance(text, str):
                    raise ConfigurationError(
                        f"a text source must yield strings, got {type(text).__name__}"
                    )
                if report.time_to_first_token is None:
                    report.time_to_first_token = report.elapsed()
                report.tokens_in += 1
                report.characters_in += len(text)
                self._progress(report)
                yield text
        finally:
            report.source_finished_after = report.elapsed()

    async def _count_items(
        self, items: AsyncIterable[SpeechItem], report: PipelineReport
    ) -> AsyncIterator[SpeechItem]:
        async with stream.iterate(items).stream() as streamer:
            async for item in streamer:
                if item.text:
                    if report.time_to_first_segment is None:
                        report.time_to_first_segment = report.elapsed()
                    report.segments_sent += 1
                    report.characters_sent += len(item.text)
                if item.flush:
                    report.flushes += 1
                self._progress(report)
                yield item


async def _close_sinks(sinks: Sequence[AudioSink]) -> list[BaseException | None]:
    """Close every sink (a player drains what it queued); errors are returned, not raised.

    A cancellation while they drain is a barge-in too: the sinks are told to stop output at
    once and closed without draining, then the cancellation goes on.
    """
    try:
        return await asyncio.gather(*(s.close() for s in sinks), return_exceptions=True)
    except asyncio.CancelledError:
        await asyncio.gather(*map(interrupt_sink, sinks), return_exceptions=True)
        await asyncio.gather(*(s.close() for s in sinks), return_exceptions=True)
        raise


async def _as_async(source: Source) -> AsyncIterator[str]:
    if isinstance(source, str):
        yield source
    elif isinstance(source, Stream):  # an aiostream pipeline: iterate it inside its context
        async with source.stream() as streamer:
            async for item in streamer:
                yield item
    elif isinstance(source, AsyncIterable):
        async for item in source:
            yield item
    elif isinstance(source, Iterable):
        for item in source:
            yield item
            await asyncio.sleep(0)  # a long sync iterable must not starve the loop
    else:
        raise ConfigurationError(
            f"a source must be a string or an (async) iterable of strings, "
            f"got {type(source).__name__}"
        )
