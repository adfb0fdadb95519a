"""Session layer: the turn, one answer's text in and its audio out, in order.

The caller's side of a turn: :meth:`Turn.send` records segments in the turn's ledger,
:meth:`Turn.finish` ends the input, :meth:`Turn.audio` yields the chunks, and
:meth:`Turn.interrupt` is barge-in. The turn owns one driver task
(:class:`~polly_pipeline.session.driver.TurnDriver`) that does the delivery; it sees its
session only through a :class:`~polly_pipeline.session.driver.TurnContext`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from polly_pipeline.audio import AudioChunk
from polly_pipeline.errors import ParameterValidationError
from polly_pipeline.protocol.params import text_event_problems
from polly_pipeline.session.driver import TurnContext, TurnDriver
from polly_pipeline.session.events import InterruptReport, TurnCompleted, TurnMetrics
from polly_pipeline.session.ledger import TurnLedger, TurnPhase
from polly_pipeline.session.link import now

__all__ = ["Turn"]

_END = object()


class Turn:
    """One turn of a conversation: text in, its audio out, in order.

    Made by :meth:`SpeechSession.begin_turn <polly_pipeline.session.SpeechSession.begin_turn>`;
    delivery starts at once (the turn owns its driver task until it is done or interrupted).
    """

    def __init__(self, context: TurnContext, turn_id: int) -> None:
        self.turn_id = turn_id
        self.metrics = TurnMetrics(turn_id)
        self.error: BaseException | None = None
        self._context = context
        self._ledger = TurnLedger(context.retry.max_attempts, context.retry.max_throttle_wait)
        self._changed = asyncio.Event()
        self._queue: asyncio.Queue[AudioChunk | BaseException | object] = asyncio.Queue()
        self._driver = TurnDriver(
            context,
            turn_id,
            ledger=self._ledger,
            metrics=self.metrics,
            deliver=self._queue.put_nowait,
            changed=self._changed,
        )
        self._done = asyncio.Event()
        self._delivered_seconds = 0.0
        self._first_delivery_at: float | None = None
        self._task = asyncio.create_task(self._drive(), name=f"polly-turn-{turn_id}")

    def __repr__(self) -> str:
        interrupted = self._ledger.phase is TurnPhase.INTERRUPTED
        state = "interrupted" if interrupted else "done" if self.done else "speaking"
        return f"<Turn {self.turn_id} {state} segments={len(self._ledger.segments)}>"

    @property
    def done(self) -> bool:
        """True once all audio was delivered, or the turn failed or was interrupted."""
        return self._done.is_set()

    async def settled(self) -> None:
        """Wait until delivery has ended (the turn's streams are closed)."""
        await asyncio.gather(self._task, return_exceptions=True)

    # -- caller side ----------------------------------------------------------------------------

    async def send(self, text: str, *, flush: bool = False) -> None:
        """Queue one segment (at most 6,000 characters); it is sent as soon as possible.

        ``flush`` asks Polly to synthesize everything buffered now (use it for the first
        segment of a turn and when the text source stalls); ``send("", flush=True)`` flushes
        without adding text.
        """
        problems = text_event_problems(text, "text")
        if problems:
            raise ParameterValidationError(problems)
        self._ledger.check_open()
        if self.error is not None:
            raise self.error
        if not text and not flush:
            return
        self.metrics.characters_sent = self._ledger.add(text, flush).end
        self._changed.set()

    async def finish(self) -> None:
        """No more text in this turn: the rest is flushed and the turn's stream closed."""
        self._ledger.finish()
        self._changed.set()

    async def audio(self) -> AsyncIterator[AudioChunk]:
        """The turn's audio chunks in order; ends when all are delivered.

        Raises:
            SessionError: the turn could not be delivered after the bounded retries.
            PollyPipelineError: a non-retryable error (e.g. a ValidationException).
        """
        while not self._interrupted:
            item = await self._queue.get()
            if self._interrupted or item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, AudioChunk)
            if self._first_delivery_at is None:
                self._first_delivery_at = now()
            self._delivered_seconds += item.seconds
            yield item

    async def wait(self) -> TurnMetrics:
        """Wait until the turn is done (audio may still be unread) and return its metrics."""
        await self._done.wait()
        return self.metrics

    async def interrupt(self) -> InterruptReport:
        """Barge-in: stop delivery now, drop pending text, close the turn's streams.

        No chunk is yielded by :meth:`audio` after this returns; the session is ready for the
        next turn (its spare stream is already warm).
        """
        self._ledger.move(TurnPhase.INTERRUPTED)
        self.metrics.interrupted = True
        self._queue.put_nowait(_END)  # wake a consumer waiting for audio
        if not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._driver.close_streams()
        heard = self._delivered_seconds
        if self._first_delivery_at is not None:
            heard = min(heard, now() - self._first_delivery_at)
        text = self._ledger.text_sent
        rate = self._context.rate.seconds_per_character
        report = InterruptReport(
            turn_id=self.turn_id,
            characters_sent=self._ledger.sent_chars,
            text_sent=text,
            audio_seconds_delivered=self._delivered_seconds,
            seconds_heard=heard,
            characters_heard=min(len(text), int(heard / rate)),
        )
        self._complete()
        return report

    # -- delivery -------------------------------------------------------------------------------

    @property
    def _interrupted(self) -> bool:
        return self._ledger.phase is TurnPhase.INTERRUPTED

    def _complete(self) -> None:
        if not self._done.is_set():
            self._done.set()
            self._context.emit(TurnCompleted(self.metrics))

    async def _drive(self) -> None:
        try:
            await self._driver.run()
            self._complete()  # all audio is queued: the next turn may begin
            self._queue.put_nowait(_END)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc
            self._queue.put_nowait(exc)
        finally:
            if not self._interrupted:
                self._complete()
