"""Pipeline layer: the stages, as aiostream operators that compose with the pipe syntax.

::

    from aiostream import stream
    audio = stream.iterate(tokens) | clean.pipe() | segment.pipe() | speak.pipe(session)
    async with audio.stream() as chunks:
        async for chunk in chunks:
            ...

``clean`` turns markdown into speakable text, ``segment`` cuts it into speakable segments and
decides which are flushed, ``speak`` feeds a :class:`~polly_pipeline.session.SpeechSession` turn
and yields its audio. Each is a plain async generator underneath; nothing is buffered beyond
what a stage needs to decide.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable

from aiostream.core import pipable_operator, streamcontext

from polly_pipeline._aio import task_group
from polly_pipeline.audio import AudioChunk
from polly_pipeline.pipeline.flush import FlushPolicy
from polly_pipeline.pipeline.speech_text import SpeechItem, SpeechText
from polly_pipeline.session.session import SpeechSession
from polly_pipeline.text.clean import CleanOptions, MarkdownCleaner
from polly_pipeline.text.segment import Segmenter, SegmenterOptions

__all__ = ["SpeechItem", "clean", "segment", "speak"]


@pipable_operator
async def clean(
    source: AsyncIterable[str], options: CleanOptions | None = None
) -> AsyncIterator[str]:
    """Markdown and emoji out, speakable text in; whitespace across chunks is kept."""
    cleaner = MarkdownCleaner(options or CleanOptions())
    async with streamcontext(source) as streamer:
        async for chunk in streamer:
            text = cleaner.feed(chunk)
            if text:
                yield text
    rest = cleaner.flush()
    if rest:
        yield rest


_END = object()


@pipable_operator
async def segment(
    source: AsyncIterable[str],
    options: SegmenterOptions | None = None,
    policy: FlushPolicy | None = None,
    seconds_per_character: Callable[[], float] | None = None,
) -> AsyncIterator[SpeechItem]:
    """Cut text into segments and mark which ones Polly must synthesize at once.

    While less than ``policy.catch_up_below`` seconds of audio are queued ahead of the
    listener (each segment lasting its characters times ``seconds_per_character()``, the
    session's speaking rate in a :class:`~polly_pipeline.Pipeline`, from when it was sent), the
    sentence being written may be cut at its next safe clause, and segments are forced.

    When the source goes quiet for ``policy.stall_after`` seconds (adaptive policy) while text
    is held or was sent without a flush, the held text is released and flushed, so Polly
    speaks everything received so far. If the source fails, the text received so far is still
    yielded before the error propagates.
    """
    policy = policy or FlushPolicy()
    text = SpeechText(Segmenter(options or SegmenterOptions()), policy, seconds_per_character)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def read() -> None:
        try:
            async with streamcontext(source) as streamer:
                async for chunk in streamer:
                    queue.put_nowait(chunk)
        except BaseException as exc:
            queue.put_nowait(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            queue.put_nowait(_END)

    # the reader hands every failure to the queue, so it never fails into the group while
    # this generator waits at a yield
    async with task_group() as tasks:
        reader = tasks.create_task(read(), name="polly-pipeline-segment-reader")
        try:
            while True:
                wait = policy.stall_after if text.stall_due else None
                try:
                    item = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    # the source went quiet (a model thinking, a tool call): speak what is here,
                    # even a sentence still held for lookahead, rather than wait in silence
                    for speech in text.release("stall"):
                        yield speech
                    continue
                if item is _END or isinstance(item, BaseException):
                    for speech in text.end():
                        yield speech
                    if isinstance(item, BaseException):
                        raise item
                    return
                assert isinstance(item, str)
                for speech in text.feed(item, loop.time()):
                    yield speech
        finally:
            reader.cancel()


@pipable_operator
async def speak(
    source: AsyncIterable[SpeechItem], session: SpeechSession
) -> AsyncIterator[AudioChunk]:
    """Speak the items as one turn of ``session``; yields its audio chunks as they arrive.

    If the source fails (an LLM error mid-answer), the text received so far is still spoken
    and its audio yielded, then the error is raised. If the consumer stops early, the turn is
    interrupted (barge-in).
    """
    turn = await session.begin_turn()
    failure: list[BaseException] = []

    async def feed() -> None:
        try:
            async with streamcontext(source) as streamer:
                async for item in streamer:
                    await turn.send(item.text, flush=item.flush)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            failure.append(exc)
        finally:
            with contextlib.suppress(Exception):
                await turn.finish()

    completed = False
    # the feeder hands its failure over in ``failure``: it never fails into the group while
    # this generator waits at a yield
    async with task_group() as tasks:
        feeder = tasks.create_task(feed(), name="polly-pipeline-speak-feed")
        try:
            async for chunk in turn.audio():
                yield chunk
            completed = True
        finally:
            if not completed:
                feeder.cancel()
                await turn.interrupt()
    if failure:
        raise failure[0]
