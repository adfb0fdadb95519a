"""Session layer: the turn, one answer's text in and its audio out, in order.

The caller's side of a turn: :meth:`Turn.send` records segments in the turn's ledger,
:meth:`Turn.finish` ends the input, :meth:`Turn.audio` yields the chunks, and
:meth:`Turn.interrupt` is barge-in. Where the turn is (open, finished, done, failed with its
error, interrupted) is the ledger's phase alone (:mod:`~polly_pipeline.session.phase`); every
move goes through one method, which also wakes those waiting for the turn to settle. The
turn owns one driver task (:class:`~polly_pipeline.session.driver.TurnDriver`) that does the
delivery; it sees its session only through a :class:`~polly_pipeline.session.driver.TurnContext`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from polly_pipeline.audio import AudioChunk
from polly_pipeline.errors import ParameterValidationError
from polly_pipeline.protocol.params import text_event_problems
from polly_pipeline.session.driver import TurnContext, TurnDriver
from polly_pipeline.session.events import InterruptReport, TurnCompleted, TurnMetrics
from polly_pipeline.session.ledger import TurnLedger
from polly_pipeline.session.link import now
from polly_pipeline.session.phase import TurnMove, TurnPhase

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
        #: a wake-up for wait(), set when the phase settles (never read as the state)
        self._settled = asyncio.Event()
        self._delivered_seconds = 0.0
        self._first_delivery_at: float | None = None
        self._task = context.tasks.spawn(self._drive(), name=f"polly-turn-{turn_id}")

    def __repr__(self) -> str:
        phase = self._ledger.phase
        state = phase.value if phase.settled else "speaking"
        return f"<Turn {self.turn_id} {state} segments={len(self._ledger.segments)}>"

    @property
    def phase(self) -> TurnPhase:
        """Where the turn is: open, finished, done, failed or interrupted."""
        return self._ledger.phase

    @property
    def done(self) -> bool:
        """True once all audio was delivered, or the turn failed or was interrupted."""
        return self._ledger.phase.settled

    @property
    def error(self) -> BaseException | None:
        """Why delivery failed (None unless the turn failed)."""
        return self._ledger.error

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
        if self._ledger.phase is TurnPhase.FAILED and self._ledger.error is not None:
            raise self._ledger.error
        self._ledger.check_open()
        if not text and not flush:
            return
        self.metrics.characters_sent = self._ledger.add(text, flush).end
        self._changed.set()

    async def finish(self) -> None:
        """No more text in this turn: the rest is flushed and the turn's stream closed."""
        self._move(TurnMove.FINISH)
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
        await self._settled.wait()
        return self.metrics

    async def interrupt(self) -> InterruptReport:
        """Barge-in: stop delivery now, drop pending text, close the turn's streams.

        No chunk is yielded by :meth:`audio` after this returns; the session is ready for the
        next turn (its spare stream is already warm).
        """
        self.metrics.interrupted = True
        self._move(TurnMove.INTERRUPT)
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
        return InterruptReport(
            turn_id=self.turn_id,
            characters_sent=self._ledger.sent_chars,
            text_sent=text,
            audio_seconds_delivered=self._delivered_seconds,
            seconds_heard=heard,
            characters_heard=min(len(text), int(heard / rate)),
        )

    # -- delivery -------------------------------------------------------------------------------

    @property
    def _interrupted(self) -> bool:
        return self._ledger.phase is TurnPhase.INTERRUPTED

    def _move(self, move: TurnMove, error: BaseException | None = None) -> None:
        """Move the turn's phase; when delivery is over, wake waiters and report it (once)."""
        settled = self._ledger.phase.settled
        if self._ledger.apply(move, error).settled and not settled:
            self._settled.set()
            self._context.emit(TurnCompleted(self.metrics))

    async def _drive(self) -> None:
        try:
            await self._driver.run()
        except asyncio.CancelledError:
            # cancelled without a barge-in (the loop or its owner shut down): stop like one
            self._move(TurnMove.INTERRUPT)
            self._queue.put_nowait(_END)
            raise
        except BaseException as exc:
            self._move(TurnMove.FAIL, exc)
            self._queue.put_nowait(exc)
        else:
            self._move(TurnMove.COMPLETE)  # all audio is queued: the next turn may begin
            self._queue.put_nowait(_END)
