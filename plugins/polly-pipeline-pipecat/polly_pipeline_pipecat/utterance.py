"""Pipecat plugin: one turn of speech, from the text of a Pipecat audio context to its audio.

Pipecat groups a reply's text and audio in an *audio context*. Each context is spoken as one
turn of a :class:`~polly_pipeline.SpeechSession` (one warm Polly stream): text is queued as
Pipecat hands it over, the turn starts once the previous one has all its audio (a session
speaks one turn at a time, and Pipecat plays contexts in order anyway), and every audio chunk
is handed back the moment it arrives. Interrupting cancels the turn at once: nothing is
delivered after :meth:`Utterance.interrupt` returns, and the session's spare stream is warm
for the next turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from aiostream import stream
from polly_pipeline.pipeline import speak
from polly_pipeline.session import TurnMetrics

from polly_pipeline_pipecat.audio import PcmConverter
from polly_pipeline_pipecat.sessions import SessionSlot
from polly_pipeline_pipecat.text import TextPlan

__all__ = ["Utterance"]


class Utterance:
    """The text of one audio context (or of its part before a voice change), spoken as one turn.

    Args:
        context_id: the Pipecat audio context.
        previous: the utterance before it (this turn starts once that one is released).
        slot: the sessions to speak with.
        plan: how text becomes speech items.
        out_rate: the pipeline's sample rate.
        deliver: called with each piece of audio (16-bit mono PCM at ``out_rate``).
        ended: called once all audio was delivered, or the turn failed.
        failed: called with the error that ended the turn early.

    Attributes:
        released: set once the turn needs the session no more (done, failed or interrupted).
        close_context: end the Pipecat audio context after this turn's audio.
        metrics: the turn's metrics once it is done.
    """

    def __init__(
        self,
        context_id: str,
        *,
        previous: Utterance | None,
        slot: SessionSlot,
        plan: TextPlan,
        out_rate: int,
        deliver: Callable[[Utterance, bytes], Awaitable[None]],
        ended: Callable[[Utterance], Awaitable[None]],
        failed: Callable[[Utterance, Exception], Awaitable[None]],
    ) -> None:
        self.context_id = context_id
        self.released = asyncio.Event()
        self.close_context = False
        self.metrics: TurnMetrics | None = None
        self._previous = previous
        self._slot = slot
        self._plan = plan
        self._out_rate = out_rate
        self._deliver = deliver
        self._ended = ended
        self._failed = failed
        self._texts: asyncio.Queue[str | None] = asyncio.Queue()
        self._input_done = False
        self._task = asyncio.create_task(self._run(), name=f"polly-pipecat-turn-{context_id}")

    def __repr__(self) -> str:
        state = "released" if self.released.is_set() else "open" if self.open else "finishing"
        return f"<Utterance {self.context_id} {state}>"

    @property
    def open(self) -> bool:
        """Whether more text may come."""
        return not self._input_done

    @property
    def finished(self) -> bool:
        """Whether the turn is over (its task has ended)."""
        return self._task.done()

    def add(self, text: str) -> None:
        """Queue text (a token, or a sentence from Pipecat's aggregator)."""
        if self._input_done:
            raise RuntimeError(f"{self!r} takes no more text")
        self._texts.put_nowait(text)

    def finish(self) -> None:
        """No more text: the rest is spoken and the turn's stream closed."""
        if not self._input_done:
            self._input_done = True
            self._texts.put_nowait(None)

    async def interrupt(self) -> None:
        """Stop now: no audio is delivered after this returns; the session's turn is cut."""
        self.finish()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self.released.set()

    async def wait(self) -> None:
        """Wait until the turn is over."""
        await asyncio.gather(self._task, return_exceptions=True)

    async def _text(self) -> AsyncIterator[str]:
        while (text := await self._texts.get()) is not None:
            yield text

    async def _run(self) -> None:
        try:
            if self._previous is not None:
                await self._previous.released.wait()
            async with self._slot.use() as session:
                converter = PcmConverter(session.format.sample_rate, self._out_rate)
                items = self._plan.items(self._text(), session)
                audio_stream = stream.iterate(items) | speak.pipe(session)
                turn_id = session.turns_started
                try:
                    async with audio_stream.stream() as chunks:
                        async for chunk in chunks:
                            audio = await converter.convert(chunk.data)
                            if audio:
                                await self._deliver(self, audio)
                    tail = await converter.flush()
                    if tail:
                        await self._deliver(self, tail)
                finally:  # also when interrupted: the turn's metrics say it was
                    if session.turns and session.turns[-1].turn_id == turn_id:
                        self.metrics = session.turns[-1]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.released.set()
            await self._failed(self, exc)
        finally:
            self.released.set()
        await self._ended(self)
