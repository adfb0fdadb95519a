"""Session layer: the turn driver, the asyncio side of a turn.

It carries a turn's segments over a chain of streams and turns what happens on them into
facts for the pure :class:`~polly_pipeline.session.ledger.TurnLedger`, acting on its answers:

- One **chain** runs in one :class:`asyncio.TaskGroup`: a sender (takes a warm stream, sends
  the segments as they come, paces them, keeps the stream alive while text is late, rolls over
  to a fresh stream before the age limit, closes the input at the end; once keep-alives are a
  space, a trailing partial word waits for the rest of its word) and one receiver per
  stream (audio out in order; a rolled-over stream's receiver waits until the previous stream
  closed, so the new stream's audio never overtakes the old one's).
- A **failure** of any stream ends the chain: the first one is recorded and the chain's other
  tasks are cancelled (no task raises into the group, so a group never cancels the driver and
  a barge-in's cancellation is never mistaken for, or hidden by, a stream failure); the ledger
  names the resume point and the outcome, the driver waits the backoff and starts a new chain.
  A ``ValidationException`` refusing the stream's empty keep-alive is retried too (the session
  switches to a space, see :mod:`~polly_pipeline.session.link`); other validation errors are not.

Its only view of the session is :class:`TurnContext`. Every time is the event loop's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field

from polly_pipeline.audio import AudioChunk, AudioFormat
from polly_pipeline.errors import SessionError, TransportError
from polly_pipeline.protocol.events import AudioEvent, StreamClosedEvent
from polly_pipeline.session.events import SessionEvent, StreamRetry, StreamRollover, TurnMetrics
from polly_pipeline.session.ledger import Outcome, Span, TurnLedger, rollover_due
from polly_pipeline.session.link import StreamLink, now
from polly_pipeline.session.rate import SpeakingRate
from polly_pipeline.session.retry import RetryPolicy
from polly_pipeline.session.tasks import SessionTasks
from polly_pipeline.session.warm import WarmStreams

__all__ = ["TurnContext", "TurnDriver"]

log = logging.getLogger("polly_pipeline.session")


@dataclass(frozen=True)
class TurnContext:
    """What a turn may use of its session (and nothing else).

    Attributes:
        streams: where a turn takes its streams and retires those it no longer needs.
        rate: the session's speaking-rate model (a turn teaches it and reads it).
        format: the audio format of every chunk.
        retry: the backoff policy for failed streams.
        rng: the random source of the backoff jitter.
        keepalive_interval: seconds of silence on a stream before a keep-alive.
        max_stream_age: seconds after which a stream is rolled over.
        pacing: seconds of audio allowed ahead of real-time playback (None: no pacing).
        emit: reports a session event.
        next_sequence: the session-wide sequence number of the next chunk.
        tasks: the session's task owner (a turn's driver task is its).
    """

    streams: WarmStreams
    rate: SpeakingRate
    format: AudioFormat
    retry: RetryPolicy
    rng: random.Random
    keepalive_interval: float
    max_stream_age: float
    pacing: float | None
    emit: Callable[[SessionEvent], None]
    next_sequence: Callable[[], int]
    tasks: SessionTasks


@dataclass
class _Leg:
    """One stream of the current chain: the link, its ledger span, and its close signal."""

    link: StreamLink
    span: Span
    closed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class _Failed:
    """A stream of the chain failed (``leg`` is None when none was open yet)."""

    leg: _Leg | None
    cause: BaseException


class _Chain:
    """The tasks of one chain, owned by its task group, and the failure that ended it."""

    def __init__(self, group: asyncio.TaskGroup) -> None:
        self.group = group
        self.tasks: list[asyncio.Task[None]] = []
        self.failure: _Failed | None = None

    def spawn(self, coro: Coroutine[object, object, None], name: str) -> None:
        task = self.group.create_task(coro, name=name)
        self.tasks.append(task)
        if self.failure is not None:
            task.cancel()

    def fail(self, leg: _Leg | None, cause: BaseException) -> None:
        """Record the first failure and cancel the chain's other tasks."""
        if self.failure is not None:
            return
        self.failure = _Failed(leg, cause)
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``; whether it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


class TurnDriver:
    """Runs one turn's delivery: chains of streams until all audio is out, or it fails.

    Args:
        context: the turn's view of the session.
        turn_id: the turn's number.
        ledger: the turn's ledger (the caller side adds segments to it).
        metrics: the turn's metrics (the driver fills them in).
        deliver: puts an audio chunk in the turn's output.
        changed: set by the caller side when text arrives or the input ends.
    """

    def __init__(
        self,
        context: TurnContext,
        turn_id: int,
        *,
        ledger: TurnLedger,
        metrics: TurnMetrics,
        deliver: Callable[[AudioChunk], None],
        changed: asyncio.Event,
    ) -> None:
        self.context = context
        self.turn_id = turn_id
        self.ledger = ledger
        self.metrics = metrics
        self._deliver = deliver
        self._changed = changed
        self._legs: list[_Leg] = []
        self.first_text_at: float | None = None
        self.first_emit_at: float | None = None
        #: when the chain's first stream was asked for, until it opened (a refusal's wait)
        self._opening_since: float | None = None

    async def run(self) -> None:
        """Deliver the turn; returns when all its audio is out.

        Raises:
            SessionError: ``RetryPolicy.max_attempts`` failures in a row without progress, or
                ``RetryPolicy.max_throttle_wait`` seconds spent waiting after quota refusals.
            PollyPipelineError: an error that cannot be retried, unchanged.
        """
        context = self.context
        purpose = "turn"
        try:
            while True:
                async with asyncio.TaskGroup() as group:
                    chain = _Chain(group)
                    chain.spawn(self._send(chain, purpose), self._name("send"))
                failed = chain.failure
                if failed is None:
                    return
                failed_leg = failed.leg
                span = failed_leg.span if failed_leg is not None else None
                rejected = failed_leg is not None and failed_leg.link.rejected_keepalive(
                    failed.cause
                )
                spent = 0.0 if self._opening_since is None else now() - self._opening_since
                self._opening_since = None
                decision = self.ledger.fail(
                    span, failed.cause, context.rate.conservative, spent, retryable=rejected
                )
                if decision.throttled:
                    self.metrics.throttles += 1
                    self._waited_for_slot()
                for leg in self._legs:
                    if leg.link.error is None:
                        context.streams.retire(leg.link)
                    else:
                        await leg.link.close()
                self._legs.clear()
                if decision.outcome is Outcome.RAISE:
                    raise failed.cause from None
                if decision.outcome is Outcome.GIVE_UP:
                    raise self._give_up(
                        decision.failures, decision.throttled, failed.cause
                    ) from failed.cause
                self.metrics.characters_resent += decision.resent
                delay = context.retry.delay(decision.failures, context.rng)
                if decision.throttled:  # wait for a slot, within the throttle budget
                    delay = self.ledger.throttle_wait(delay)
                    self._waited_for_slot()
                else:
                    self.metrics.retries += 1
                context.emit(
                    StreamRetry(
                        self.turn_id,
                        decision.failures,
                        delay,
                        str(failed.cause),
                        decision.resume,
                        throttled=decision.throttled,
                    )
                )
                log.info(
                    "turn %d: %s; resuming at segment %d",
                    self.turn_id,
                    failed.cause,
                    decision.resume,
                )
                await asyncio.sleep(delay)
                purpose = "retry"
        finally:
            await self.close_streams()

    def _give_up(self, failures: int, throttled: bool, cause: BaseException) -> SessionError:
        if throttled:
            what = (
                f"was refused streams for a concurrency or rate quota {failures} times in a row "
                f"and waited {self.ledger.throttled_seconds:.1f}s in all for a slot (raise "
                "RetryPolicy.max_throttle_wait to wait longer, or run fewer streams at once)"
            )
        else:
            what = f"failed {failures} times in a row without progress"
        return SessionError(
            f"turn {self.turn_id} {what}; last error: {cause}", attempts=self.metrics.streams
        )

    def _waited_for_slot(self, seconds: float = 0.0) -> None:
        """Count ``seconds`` more waited for a stream slot against the turn's throttle budget;
        the turn's metrics show the total (the one place they are kept in step)."""
        self.ledger.throttled_seconds += seconds
        self.metrics.throttled_seconds = self.ledger.throttled_seconds

    async def close_streams(self) -> None:
        """Close the streams of the current chain (after it ended or was cancelled)."""
        legs, self._legs = self._legs, []
        await asyncio.gather(*(leg.link.close() for leg in legs), return_exceptions=True)

    def _name(self, what: str) -> str:
        return f"polly-turn-{self.turn_id}-{what}"

    def _attach(self, chain: _Chain, link: StreamLink, start: int, before: _Leg | None) -> _Leg:
        leg = _Leg(link, self.ledger.open_span(link.number, start))
        self._legs.append(leg)
        self.metrics.streams += 1
        # waited for a slot: of the client's max_streams, or for a spare the service refused
        self._waited_for_slot(link.stream.stats.slot_wait + self.context.streams.throttled_wait)
        chain.spawn(self._receive(chain, leg, before), self._name(f"receive-{link.number}"))
        return leg

    # -- the sender -----------------------------------------------------------------------------

    async def _send(self, chain: _Chain, purpose: str) -> None:
        """Send segments from the resume point over one or more streams until the input ends."""
        context, ledger = self.context, self.ledger
        leg: _Leg | None = None
        try:
            self._opening_since = now()
            link = await context.streams.take(purpose)
            self._opening_since = None
            leg = self._attach(chain, link, ledger.resume, None)
            while True:
                span = leg.span
                if rollover_due(
                    leg.link.age, context.max_stream_age, segments_on_stream=span.end - span.start
                ):
                    await leg.link.end_input()
                    link = await context.streams.take("rollover")
                    self.metrics.rollovers += 1
                    context.emit(StreamRollover(self.turn_id, span.end))
                    leg = self._attach(chain, link, span.end, leg)
                    continue
                if ledger.sendable(span, whole_words=leg.link.keepalive.spaced):
                    segment = ledger.segments[span.end]
                    await self._pace(leg.link, segment.text)
                    if self.first_text_at is None:
                        self.first_text_at = now()
                    heard = span.audio_seconds  # all of it is the earlier segments' audio
                    await leg.link.send_text(segment.text, flush=segment.flush)
                    ledger.sent(span, heard)
                    continue
                if ledger.input_complete:
                    await leg.link.end_input()
                    return
                self._changed.clear()
                if not await _wait(
                    self._changed, leg.link.keepalive_due(context.keepalive_interval)
                ):
                    await leg.link.keep_alive(ledger.next_text(span))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            chain.fail(leg, exc)

    async def _pace(self, link: StreamLink, next_text: str) -> None:
        """With pacing on, hold text while more than ``pacing`` seconds are ahead of the listener.

        What is ahead is estimated from the characters already sent (at the measured speaking
        rate) minus what real-time playback has consumed since the first audio; the first
        segment of a turn always goes out at once.
        """
        context = self.context
        pacing = context.pacing
        if pacing is None or self.ledger.sent_chars == 0:
            return
        while True:
            played = 0.0 if self.first_emit_at is None else now() - self.first_emit_at
            sent = (self.ledger.sent_chars + len(next_text)) * context.rate.seconds_per_character
            ahead = max(sent, self.metrics.audio_seconds) - played
            if ahead <= pacing:
                return
            due = link.keepalive_due(context.keepalive_interval)
            await asyncio.sleep(max(0.01, min(ahead - pacing, due)))
            if link.keepalive_due(context.keepalive_interval) == 0:
                if link.keepalive.spaced and not link.space_fits(next_text):
                    return  # a space would split a word: the next segment keeps it alive
                await link.keep_alive(next_text)

    # -- the receivers --------------------------------------------------------------------------

    async def _receive(self, chain: _Chain, leg: _Leg, before: _Leg | None) -> None:
        """Deliver one stream's audio, after the previous stream of the chain closed."""
        try:
            if before is not None:
                await before.closed.wait()
            while True:
                event = await leg.link.events.get()
                if isinstance(event, BaseException):
                    raise event
                if event is None:
                    raise TransportError("the stream ended without a StreamClosedEvent")
                if isinstance(event, AudioEvent):
                    self._emit_audio(leg, event.audio_chunk)
                elif isinstance(event, StreamClosedEvent):
                    self.metrics.characters_billed += event.request_characters
                    span = leg.span
                    sent = self.ledger.characters_in(span.start, span.end)
                    self.context.rate.learn(sent, leg.link.clock.seconds)
                    span.closed = True
                    leg.closed.set()
                    return
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            chain.fail(leg, exc)

    def _emit_audio(self, leg: _Leg, data: bytes) -> None:
        clock = leg.link.clock
        before = clock.seconds
        after = clock.feed(data)
        leg.span.audio_seconds = after
        at = now()
        if self.first_emit_at is None:
            self.first_emit_at = at
            if self.first_text_at is not None:
                self.metrics.time_to_first_audio = at - self.first_text_at
        seconds = after - before
        self.metrics.audio_seconds += seconds
        context = self.context
        self._deliver(
            AudioChunk(data, context.format, self.turn_id, context.next_sequence(), seconds)
        )
