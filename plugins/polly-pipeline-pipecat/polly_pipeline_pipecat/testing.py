"""Pipecat plugin: a scripted LLM and a recorder for testing and measuring TTS services in Pipecat.

Real Pipecat machinery, no network: :class:`ScriptedLLM` is a frame processor that answers an
:class:`Ask` frame the way an LLM service does (``LLMFullResponseStartFrame``, paced
``LLMTextFrame`` tokens, ``LLMFullResponseEndFrame``; an ``InterruptionFrame`` cancels it like
any processor's work), :class:`FrameRecorder` notes when each frame reached the end of the
pipeline, and :func:`running` runs a ``Pipeline`` in a ``PipelineWorker`` under a
``WorkerRunner`` (Pipecat's ``PipelineTask`` and ``PipelineRunner`` of earlier releases)::

    llm, recorder = ScriptedLLM(), FrameRecorder()
    async with running([llm, tts, recorder]) as worker:
        await worker.queue_frame(Ask(tokens))
        await recorder.wait_for(TTSStoppedFrame)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from pipecat.frames.frames import (
    DataFrame,
    EndFrame,
    Frame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

__all__ = ["Ask", "FrameRecorder", "Reply", "ScriptedLLM", "running", "word_tokens"]

#: How long starting or ending a test pipeline may take.
_PIPELINE_DEADLINE = 30.0


def word_tokens(text: str) -> list[str]:
    """``text`` as word-sized tokens that keep their spaces, as a chat model streams them."""
    return re.findall(r"\S+\s*", text)


@dataclass
class Ask(DataFrame):
    """Ask the :class:`ScriptedLLM` to answer with ``tokens`` at the given pace.

    Parameters:
        tokens: the answer, token by token (keep the whitespace between them); a frame among
            them is pushed at its place, between the tokens around it.
        first_token_delay: seconds from the question to the first token.
        tokens_per_second: the pace of the tokens after it.
    """

    tokens: Sequence[str | Frame] = ()
    first_token_delay: float = 0.4
    tokens_per_second: float = 40.0


@dataclass
class Reply:
    """When one answer's tokens went out (``time.monotonic()`` seconds)."""

    asked_at: float
    first_token_at: float | None = None
    last_token_at: float | None = None
    tokens_sent: int = 0
    text_sent: str = ""
    completed: bool = False


class ScriptedLLM(FrameProcessor):
    """An LLM service stand-in that answers each :class:`Ask` with its tokens, paced.

    Attributes:
        replies: one :class:`Reply` per question, in order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.replies: list[Reply] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Answer an :class:`Ask`; pass every other frame on."""
        await super().process_frame(frame, direction)
        if not isinstance(frame, Ask):
            await self.push_frame(frame, direction)
            return
        reply = Reply(asked_at=time.monotonic())
        self.replies.append(reply)
        interval = 1.0 / frame.tokens_per_second if frame.tokens_per_second > 0 else 0.0
        await self.push_frame(LLMFullResponseStartFrame())
        index = 0
        for token in frame.tokens:
            if isinstance(token, Frame):
                await self.push_frame(token)
                continue
            due = reply.asked_at + frame.first_token_delay + index * interval
            index += 1
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await self.push_frame(LLMTextFrame(token))
            reply.last_token_at = time.monotonic()
            if reply.first_token_at is None:
                reply.first_token_at = reply.last_token_at
            reply.tokens_sent += 1
            reply.text_sent += token
        reply.completed = True
        await self.push_frame(LLMFullResponseEndFrame())


@dataclass
class _Seen:
    at: float
    frame: Frame = field(repr=False)


class FrameRecorder(FrameProcessor):
    """Notes every frame that reaches it going downstream (with its arrival time), passes it on.

    Attributes:
        seen: (arrival time, frame) in arrival order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[_Seen] = []
        self._arrived = asyncio.Condition()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Record a downstream frame and pass every frame on."""
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            async with self._arrived:
                self.seen.append(_Seen(time.monotonic(), frame))
                self._arrived.notify_all()
        await self.push_frame(frame, direction)

    def frames(self, kind: type[Frame], since: float = 0.0) -> list[_Seen]:
        """The frames of ``kind`` that arrived at or after ``since``."""
        return [s for s in self.seen if isinstance(s.frame, kind) and s.at >= since]

    def audio(self, since: float = 0.0) -> list[tuple[float, TTSAudioRawFrame]]:
        """(arrival time, frame) of the TTS audio frames that arrived at or after ``since``."""
        return [(s.at, s.frame) for s in self.frames(TTSAudioRawFrame, since)]  # type: ignore[misc]

    async def wait_for(self, kind: type[Frame], count: int = 1, within: float = 30.0) -> None:
        """Wait until ``count`` frames of ``kind`` arrived in all.

        Raises:
            TimeoutError: they did not arrive within ``within`` seconds.
        """
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.frames(kind)) >= count)


@contextlib.asynccontextmanager
async def running(
    processors: Sequence[FrameProcessor], params: PipelineParams | None = None
) -> AsyncIterator[PipelineWorker]:
    """Run ``Pipeline(processors)`` in a worker until the block ends (then an ``EndFrame``).

    Raises:
        TimeoutError: the pipeline did not start or end within 30 seconds.
    """
    worker = PipelineWorker(
        Pipeline(list(processors)),
        params=params or PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        cancel_on_idle_timeout=False,
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")  # type: ignore[untyped-decorator]
    async def _started(worker: PipelineWorker, frame: Frame) -> None:
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    run = asyncio.create_task(runner.run(), name="pipecat-runner")
    try:
        async with asyncio.timeout(_PIPELINE_DEADLINE):
            await started.wait()
        yield worker
        await worker.queue_frame(EndFrame())
        async with asyncio.timeout(_PIPELINE_DEADLINE):
            await asyncio.shield(run)
    finally:
        if not run.done():
            await worker.cancel()
            try:
                async with asyncio.timeout(_PIPELINE_DEADLINE):
                    await run
            except TimeoutError:
                run.cancel()
                await asyncio.gather(run, return_exceptions=True)
