"""Session layer: one persistent speech session per conversation.

``SpeechSession`` keeps Polly streams warm and hides the service's limits and faults::

    async with SpeechSession(client, voice_id="Joanna") as session:
        turn = await session.begin_turn()
        await turn.send("Hello there. ", flush=True)
        await turn.send("How can I help?")
        await turn.finish()
        async for chunk in turn.audio():
            play(chunk.data)

Design, and why:

- **A stream per turn, always pre-warmed.** Polly sends no marker when a flush's audio is
  complete; the only exact "all audio delivered" signal is the ``StreamClosedEvent`` that answers
  a ``CloseStreamEvent``. So a turn ends by closing its stream, which gives exact turn boundaries,
  exact billed characters per turn, and no stale audio leaking into the next turn. The session
  always holds a spare stream, opened ahead of time on the same warm connection and kept alive
  with whitespace events, so a turn starts on an open stream with no setup latency.
- **Keep-alive.** While a turn's stream or the spare waits for text, an empty TextEvent is sent
  once ``keepalive_interval`` seconds pass without input, below Polly's 5-second inbound-event
  timeout. It is never audible, bills nothing and cannot split a word.
- **Rollover.** Before a stream reaches ``max_stream_age``, the turn closes it at a segment
  boundary and goes on with the spare: the next segments are sent at once, and their audio is
  held until the old stream's remaining audio is out, so nothing is resent and the only gap is
  the one the service imposes.
- **Recovery.** When a stream fails mid-turn (transport error, throttling, service failure,
  quota close), the turn resumes on a new stream after a bounded, jittered exponential backoff.
  Text is resent from the first segment whose audio may be incomplete, judged conservatively
  from the audio already received (exact seconds from the audio clock, and the slowest
  speaking rate seen so far with a safety margin). **Guarantee: no segment is skipped; the
  segment in flight when the stream failed (and rarely the one before it) may be heard twice.**
  After ``RetryPolicy.max_attempts`` consecutive failures without progress the turn fails with a
  :class:`~polly_pipeline.errors.SessionError`.
- **Barge-in.** :meth:`Turn.interrupt` stops delivery at once (no chunk is yielded after it
  returns), drops the turn's pending text, closes its streams and reports what was heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from polly_pipeline._aio import AsyncResource
from polly_pipeline.audio import AudioChunk, AudioClock, AudioFormat
from polly_pipeline.client.client import PollyStreamingClient
from polly_pipeline.client.stream import SpeechSynthesisStream
from polly_pipeline.errors import (
    ConfigurationError,
    ParameterValidationError,
    PollyPipelineError,
    ServiceFailureException,
    ServiceQuotaExceededException,
    SessionError,
    StreamStateError,
    ThrottlingException,
    TransportError,
    UnmodeledServiceError,
)
from polly_pipeline.protocol.events import AudioEvent, OutputEvent, StreamClosedEvent
from polly_pipeline.protocol.params import SynthesisParams, text_event_problems
from polly_pipeline.session.events import (
    InterruptReport,
    RetryPolicy,
    SessionEvent,
    StreamOpened,
    StreamRetry,
    StreamRollover,
    TurnCompleted,
    TurnMetrics,
)

__all__ = ["SpeechSession", "Turn"]

log = logging.getLogger("polly_pipeline.session")

#: Errors after which a turn goes on on a new stream.
RETRYABLE: tuple[type[BaseException], ...] = (
    TransportError,
    ThrottlingException,
    ServiceFailureException,
    ServiceQuotaExceededException,
)
#: Safety factor on the slowest speaking rate seen, when judging what audio covers.
_RATE_MARGIN = 1.3
#: How long a stream we no longer need may take to close politely.
_RETIRE_TIMEOUT = 5.0
_END = object()
#: How many session events and turn metrics a session keeps by default.
DEFAULT_HISTORY_LIMIT = 1000


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, RETRYABLE):
        return True
    return isinstance(exc, UnmodeledServiceError) and (exc.status or 0) >= 500


class _Link:
    """One Polly stream, with a task pumping its output events into a queue."""

    def __init__(self, stream: SpeechSynthesisStream, number: int, fmt: AudioFormat) -> None:
        self.stream = stream
        self.number = number
        self.opened_at = time.monotonic()
        self.events: asyncio.Queue[OutputEvent | BaseException | None] = asyncio.Queue()
        self.clock = AudioClock(fmt.output_format, fmt.sample_rate)
        self.start_index = 0
        self.end_index = 0
        self.done = asyncio.Event()
        self.error: BaseException | None = None
        self.last_sent = self.opened_at
        self.pump = asyncio.create_task(self._pump(), name=f"polly-link-{number}")

    async def send_text(self, text: str, *, flush: bool) -> None:
        await self.stream.send_text(text, flush=flush)
        self.last_sent = time.monotonic()

    async def keep_alive(self) -> None:
        await self.stream.keep_alive()
        self.last_sent = time.monotonic()

    def keepalive_due(self, interval: float) -> float:
        """Seconds until this stream needs a keep-alive."""
        return max(0.0, self.last_sent + interval - time.monotonic())

    async def _pump(self) -> None:
        try:
            async for event in self.stream:
                self.events.put_nowait(event)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc
            self.events.put_nowait(exc)
        else:
            self.events.put_nowait(None)

    @property
    def age(self) -> float:
        return time.monotonic() - self.opened_at

    async def close(self) -> None:
        self.pump.cancel()
        await asyncio.gather(self.pump, return_exceptions=True)
        await self.stream.aclose()


@dataclass
class _Segment:
    text: str
    flush: bool
    #: characters of the turn's text up to the end of this segment
    end: int


class _Failed(Exception):
    """Internal: a link failed; carries the link and the cause."""

    def __init__(self, link: _Link | None, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.link = link
        self.cause = cause


class SpeechSession(AsyncResource):
    """A persistent speech session over one client (many sessions may share a client).

    Args:
        client: the client whose connection pool the session's streams use.
        voice_id, engine, output_format, sample_rate, language_code, lexicon_names: the
            synthesis parameters (validated at once).
        keepalive_interval: seconds of silence on a stream before a whitespace keep-alive.
        max_stream_age: seconds after which a stream is replaced (below Polly's 10 minutes).
        retry: the backoff policy for failed streams.
        pacing: keep at most this many seconds of audio ahead of real-time playback (None:
            send text as fast as it comes).
        seconds_per_character: the speaking-rate estimate before any turn has measured it.
        on_event: called with each :class:`SessionEvent` (also kept in :attr:`history`).
        history_limit: how many of the latest session events and turn metrics are kept in
            :attr:`history` and :attr:`turns` (older ones are dropped, so a session that
            runs for days stays flat; ``on_event`` sees every event).

    Attributes:
        history: the latest ``history_limit`` session events, oldest first.
        turns: the metrics of the latest ``history_limit`` turns, oldest first.
        turns_started: how many turns this session has begun (the next turn's id).
    """

    def __init__(
        self,
        client: PollyStreamingClient,
        *,
        voice_id: str,
        engine: str = "generative",
        output_format: str = "pcm",
        sample_rate: str | int | None = None,
        language_code: str | None = None,
        lexicon_names: Sequence[str] | None = None,
        keepalive_interval: float = 3.0,
        max_stream_age: float = 540.0,
        retry: RetryPolicy | None = None,
        pacing: float | None = None,
        seconds_per_character: float = 0.07,
        on_event: Callable[[SessionEvent], None] | None = None,
        seed: int | None = None,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> None:
        self.params = SynthesisParams.create(
            voice_id=voice_id,
            engine=engine,
            output_format=output_format,
            sample_rate=sample_rate,
            language_code=language_code,
            lexicon_names=lexicon_names,
        )
        for name, value in (
            ("keepalive_interval", keepalive_interval),
            ("max_stream_age", max_stream_age),
            ("seconds_per_character", seconds_per_character),
            ("pacing", 1.0 if pacing is None else pacing),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}")
        if keepalive_interval <= 0 or max_stream_age <= 0:
            raise ConfigurationError("keepalive_interval and max_stream_age must be > 0")
        if pacing is not None and pacing <= 0:
            raise ConfigurationError("pacing must be None or > 0 seconds")
        if isinstance(history_limit, bool) or not isinstance(history_limit, int):
            raise ConfigurationError(f"history_limit must be a whole number, got {history_limit!r}")
        if history_limit < 1:
            raise ConfigurationError(f"history_limit must be at least 1, got {history_limit}")
        self.client = client
        self.format = AudioFormat(self.params.output_format, self.params.effective_sample_rate)
        self.keepalive_interval = keepalive_interval
        self.max_stream_age = max_stream_age
        self.retry = retry or RetryPolicy()
        self.pacing = pacing
        self.seconds_per_character = seconds_per_character
        self._slowest_rate = seconds_per_character
        self._on_event = on_event
        self._rng = random.Random(seed)
        self.history: deque[SessionEvent] = deque(maxlen=history_limit)
        self.turns: deque[TurnMetrics] = deque(maxlen=history_limit)
        self.turns_started = 0
        self._spare: _Link | None = None
        self._spare_task: asyncio.Task[None] | None = None
        self._spare_ready = asyncio.Event()
        self._spare_taken = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._streams_opened = 0
        self._turn: Turn | None = None
        self._closed = False
        self._sequence = 0

    def __repr__(self) -> str:
        p = self.params
        where = f"voice={p.voice_id} format={p.output_format}"
        return f"<SpeechSession {where} turns={self.turns_started}>"

    # -- lifetime -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Pre-warm: open the first stream now (errors such as bad credentials surface here)."""
        if self._closed:
            raise StreamStateError("the speech session is closed")
        if self._spare is None and self._spare_task is None:
            self._spare = await self._open("spare")
            self._spare_ready.set()
            self._spare_task = asyncio.create_task(self._keep_spare(), name="polly-spare")

    async def aclose(self) -> None:
        """Interrupt any turn, close every stream and stop every task. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._turn is not None:
            if not self._turn.done:
                await self._turn.interrupt()
            await self._turn._finished_driving()
        if self._spare_task is not None:
            self._spare_task.cancel()
            await asyncio.gather(self._spare_task, return_exceptions=True)
        spare, self._spare = self._spare, None
        if spare is not None:
            await spare.close()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _enter(self) -> None:
        await self.start()

    # -- turns ----------------------------------------------------------------------------------

    async def begin_turn(self) -> Turn:
        """Start the next turn (the previous one must be finished or interrupted)."""
        if self._closed:
            raise StreamStateError("the speech session is closed")
        if self._turn is not None and not self._turn.done:
            raise StreamStateError(
                "the previous turn is still speaking; await its audio or interrupt() it first"
            )
        turn = Turn(self, self.turns_started)
        self.turns_started += 1
        self.turns.append(turn.metrics)
        self._turn = turn
        turn._start()
        return turn

    async def interrupt(self) -> InterruptReport | None:
        """Barge-in on the current turn, if one is speaking."""
        if self._turn is None or self._turn.done:
            return None
        return await self._turn.interrupt()

    # -- streams --------------------------------------------------------------------------------

    def _emit(self, event: SessionEvent) -> None:
        self.history.append(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("session on_event callback failed")

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence - 1

    async def _open(self, purpose: str) -> _Link:
        p = self.params
        stream = await self.client.open_stream(
            voice_id=p.voice_id,
            engine=p.engine,
            output_format=p.output_format,
            sample_rate=p.sample_rate,
            language_code=p.language_code,
            lexicon_names=p.lexicon_names or None,
        )
        self._streams_opened += 1
        self._emit(StreamOpened(self._streams_opened, purpose))
        return _Link(stream, self._streams_opened, self.format)

    async def _take(self, purpose: str) -> _Link:
        """A stream for a turn: the warm spare when it is healthy, else a new one."""
        if self._spare is None and self._spare_task is not None and not self._spare_task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._spare_ready.wait(), self.keepalive_interval)
        link, self._spare = self._spare, None
        self._spare_ready.clear()
        self._spare_taken.set()
        if not self._closed and (self._spare_task is None or self._spare_task.done()):
            self._spare_task = asyncio.create_task(self._keep_spare(), name="polly-spare")
        if link is not None and link.error is None and link.age < self.max_stream_age / 2:
            return link
        if link is not None:
            self._retire(link)
        return await self._open(purpose)

    def _retire(self, link: _Link) -> None:
        """End a stream we no longer need, in the background."""

        async def retire() -> None:
            with contextlib.suppress(Exception):
                if link.error is None and not link.stream.input_closed:
                    await link.stream.end_input()
                    async with asyncio.timeout(_RETIRE_TIMEOUT):
                        while True:
                            item = await link.events.get()
                            if item is None or isinstance(item, BaseException):
                                break
            await link.close()

        task = asyncio.create_task(retire())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _keep_spare(self) -> None:
        """Keep one warm spare stream: open it, keep it alive, replace it when old or dead."""
        failures = 0
        while not self._closed:
            spare = self._spare
            if spare is None:
                try:
                    spare = await self._open("spare")
                except asyncio.CancelledError:
                    raise
                except PollyPipelineError as exc:
                    failures += 1
                    delay = self.retry.delay(min(failures, 10), self._rng)
                    log.warning("could not pre-warm a stream (%s); retrying in %.2fs", exc, delay)
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                self._spare = spare
                self._spare_taken.clear()
                self._spare_ready.set()
            taken = asyncio.create_task(self._spare_taken.wait())
            try:
                await asyncio.wait(
                    {spare.pump, taken},
                    timeout=spare.keepalive_due(self.keepalive_interval),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                taken.cancel()
            if self._spare is not spare:
                continue  # a turn took it: open the next one
            if spare.error is not None or spare.pump.done() or spare.age >= self.max_stream_age / 2:
                self._spare = None
                self._spare_ready.clear()
                self._retire(spare)
                continue
            if spare.keepalive_due(self.keepalive_interval) == 0:
                try:
                    await spare.keep_alive()
                except PollyPipelineError:
                    self._spare = None
                    self._spare_ready.clear()
                    self._retire(spare)

    # -- speaking rate --------------------------------------------------------------------------

    def _learn_rate(self, characters: int, seconds: float) -> None:
        if characters >= 20 and seconds > 0:
            rate = seconds / characters
            self.seconds_per_character = 0.7 * self.seconds_per_character + 0.3 * rate
            self._slowest_rate = max(self._slowest_rate, rate)

    @property
    def conservative_rate(self) -> float:
        """Seconds per character used to judge what received audio surely covers."""
        return self._slowest_rate * _RATE_MARGIN


class Turn:
    """One turn of a conversation: text in, its audio out, in order."""

    def __init__(self, session: SpeechSession, turn_id: int) -> None:
        self.session = session
        self.turn_id = turn_id
        self.metrics = TurnMetrics(turn_id)
        self._segments: list[_Segment] = []
        self._changed = asyncio.Event()
        self._finished = False
        self._interrupted = False
        self._queue: asyncio.Queue[AudioChunk | BaseException | object] = asyncio.Queue()
        self._driver: asyncio.Task[None] | None = None
        self._links: list[_Link] = []
        self._done = asyncio.Event()
        self._first_text_at: float | None = None
        self._first_emit_at: float | None = None
        self._delivered_seconds = 0.0
        self._first_delivery_at: float | None = None
        self._sent_chars = 0
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        state = "interrupted" if self._interrupted else "done" if self.done else "speaking"
        return f"<Turn {self.turn_id} {state} segments={len(self._segments)}>"

    @property
    def done(self) -> bool:
        """True once all audio was delivered, or the turn failed or was interrupted."""
        return self._done.is_set()

    async def _finished_driving(self) -> None:
        if self._driver is not None:
            await asyncio.gather(self._driver, return_exceptions=True)

    def _start(self) -> None:
        self._driver = asyncio.create_task(self._drive(), name=f"polly-turn-{self.turn_id}")

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
        if self._finished or self._interrupted:
            raise StreamStateError("this turn is finished; begin a new turn to say more")
        if self.error is not None:
            raise self.error
        if not text and not flush:
            return
        self.metrics.characters_sent += len(text)
        self._segments.append(_Segment(text, flush, self.metrics.characters_sent))
        self._changed.set()

    async def finish(self) -> None:
        """No more text in this turn: the rest is flushed and the turn's stream closed."""
        self._finished = True
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
            now = time.monotonic()
            if self._first_delivery_at is None:
                self._first_delivery_at = now
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
        self._interrupted = True
        self.metrics.interrupted = True
        self._queue.put_nowait(_END)  # wake a consumer waiting for audio
        if self._driver is not None and not self._driver.done():
            self._driver.cancel()
            await asyncio.gather(self._driver, return_exceptions=True)
        await asyncio.gather(*(link.close() for link in self._links), return_exceptions=True)
        self._links.clear()
        heard = self._delivered_seconds
        if self._first_delivery_at is not None:
            heard = min(heard, time.monotonic() - self._first_delivery_at)
        text = "".join(s.text for s in self._segments)[: self._sent_chars]
        chars_heard = min(len(text), int(heard / self.session.seconds_per_character))
        report = InterruptReport(
            turn_id=self.turn_id,
            characters_sent=self._sent_chars,
            text_sent=text,
            audio_seconds_delivered=self._delivered_seconds,
            seconds_heard=heard,
            characters_heard=chars_heard,
        )
        self._complete()
        return report

    # -- driver ---------------------------------------------------------------------------------

    def _complete(self) -> None:
        if not self._done.is_set():
            self._done.set()
            self.session._emit(TurnCompleted(self.metrics))

    async def _drive(self) -> None:
        session = self.session
        resume = 0
        failures = 0
        purpose = "turn"
        try:
            while True:
                try:
                    await self._run_chain(resume, purpose)
                    break
                except _Failed as failed:
                    new_resume = self._resume_point(failed.link, resume)
                    progress = new_resume > resume or (
                        failed.link is not None and failed.link.clock.seconds > 0
                    )
                    failures = 1 if progress else failures + 1
                    for link in self._links:
                        if link.error is None:
                            session._retire(link)
                        else:
                            await link.close()
                    self._links.clear()
                    if not _retryable(failed.cause):
                        raise failed.cause from None
                    if failures >= session.retry.max_attempts:
                        raise SessionError(
                            f"turn {self.turn_id} failed {failures} times in a row without "
                            f"progress; last error: {failed.cause}",
                            attempts=self.metrics.streams,
                        ) from failed.cause
                    resent = sum(len(s.text) for s in self._segments[new_resume : self._sent_upto])
                    self.metrics.characters_resent += resent
                    self.metrics.retries += 1
                    delay = session.retry.delay(failures, session._rng)
                    session._emit(
                        StreamRetry(self.turn_id, failures, delay, str(failed.cause), new_resume)
                    )
                    log.info(
                        "turn %d: %s; resuming at segment %d",
                        self.turn_id,
                        failed.cause,
                        new_resume,
                    )
                    await asyncio.sleep(delay)
                    resume = new_resume
                    purpose = "retry"
            self._complete()  # all audio is queued: the next turn may begin
            self._queue.put_nowait(_END)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc
            self._queue.put_nowait(exc)
        finally:
            for link in self._links:
                await link.close()
            self._links.clear()
            if not self._interrupted:
                self._complete()

    @property
    def _sent_upto(self) -> int:
        return max((link.end_index for link in self._links), default=0)

    def _resume_point(self, link: _Link | None, resume: int) -> int:
        """The first segment whose audio may be incomplete after ``link`` failed."""
        oldest = next((lk for lk in self._links if not lk.done.is_set()), link)
        if oldest is None:
            return resume
        covered = oldest.clock.seconds
        rate = self.session.conservative_rate
        index = oldest.start_index
        spent = 0.0
        while index < oldest.end_index:
            spent += len(self._segments[index].text) * rate
            if spent > covered:
                break
            index += 1
        return index

    async def _run_chain(self, start: int, purpose: str) -> None:
        """Send segments from ``start`` over one or more streams until the turn is delivered."""
        session = self.session
        failure: asyncio.Future[_Failed] = asyncio.get_running_loop().create_future()
        receivers: list[asyncio.Task[None]] = []

        def fail(link: _Link | None, exc: BaseException) -> None:
            if not failure.done():
                failure.set_result(_Failed(link, exc))

        async def receive(link: _Link, before: _Link | None) -> None:
            try:
                if before is not None:
                    await before.done.wait()
                while True:
                    event = await link.events.get()
                    if isinstance(event, BaseException):
                        raise event
                    if event is None:
                        raise TransportError("the stream ended without a StreamClosedEvent")
                    if isinstance(event, AudioEvent):
                        self._emit_audio(link, event.audio_chunk)
                    elif isinstance(event, StreamClosedEvent):
                        self.metrics.characters_billed += event.request_characters
                        sent = sum(
                            len(s.text) for s in self._segments[link.start_index : link.end_index]
                        )
                        session._learn_rate(sent, link.clock.seconds)
                        link.done.set()
                        return
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                fail(link, exc)

        async def send() -> None:
            link: _Link | None = None
            try:
                link = await session._take(purpose)
                self._attach(link, start, receive, receivers, None)
                index = start
                while True:
                    if link.age >= session.max_stream_age and index > link.start_index:
                        link.end_index = index
                        await link.stream.end_input()
                        previous = link
                        link = await session._take("rollover")
                        self.metrics.rollovers += 1
                        session._emit(StreamRollover(self.turn_id, index))
                        self._attach(link, index, receive, receivers, previous)
                    if index < len(self._segments):
                        segment = self._segments[index]
                        await self._pace(link, len(segment.text))
                        if self._first_text_at is None:
                            self._first_text_at = time.monotonic()
                        await link.send_text(segment.text, flush=segment.flush)
                        index += 1
                        link.end_index = index
                        self._sent_chars = max(self._sent_chars, segment.end)
                        continue
                    if self._finished:
                        link.end_index = index
                        await link.stream.end_input()
                        return
                    self._changed.clear()
                    due = link.keepalive_due(session.keepalive_interval)
                    try:
                        await asyncio.wait_for(self._changed.wait(), due)
                    except TimeoutError:
                        await link.keep_alive()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                fail(link, exc)

        sender = asyncio.create_task(send(), name=f"polly-turn-{self.turn_id}-send")
        try:
            while True:
                waiting: set[asyncio.Future[object]] = {failure, *receivers}  # type: ignore[arg-type]
                if not sender.done():
                    waiting.add(sender)  # type: ignore[arg-type]
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if failure.done():
                    raise failure.result()
                finished = sender.done() and receivers and all(r.done() for r in receivers)
                if finished and all(link.done.is_set() for link in self._links):
                    return
        finally:
            for task in (sender, *receivers):
                task.cancel()
            await asyncio.gather(sender, *receivers, return_exceptions=True)

    def _attach(
        self,
        link: _Link,
        start: int,
        receive: Callable[[_Link, _Link | None], object],
        receivers: list[asyncio.Task[None]],
        before: _Link | None,
    ) -> None:
        link.start_index = start
        link.end_index = start
        self._links.append(link)
        self.metrics.streams += 1
        receivers.append(asyncio.create_task(receive(link, before)))  # type: ignore[arg-type]

    def _emit_audio(self, link: _Link, data: bytes) -> None:
        before = link.clock.seconds
        after = link.clock.feed(data)
        now = time.monotonic()
        if self._first_emit_at is None:
            self._first_emit_at = now
            if self._first_text_at is not None:
                self.metrics.time_to_first_audio = now - self._first_text_at
        seconds = after - before
        self.metrics.audio_seconds += seconds
        chunk = AudioChunk(
            data, self.session.format, self.turn_id, self.session._next_sequence(), seconds
        )
        self._queue.put_nowait(chunk)

    async def _pace(self, link: _Link, next_chars: int) -> None:
        """With pacing on, hold text while more than ``pacing`` seconds are ahead of the listener.

        What is ahead is estimated from the characters already sent (at the measured speaking
        rate) minus what real-time playback has consumed since the first audio; the first
        segment of a turn always goes out at once.
        """
        pacing = self.session.pacing
        if pacing is None or self._sent_chars == 0:
            return
        while True:
            played = 0.0 if self._first_emit_at is None else time.monotonic() - self._first_emit_at
            sent = (self._sent_chars + next_chars) * self.session.seconds_per_character
            ahead = max(sent, self.metrics.audio_seconds) - played
            if ahead <= pacing:
                return
            due = link.keepalive_due(self.session.keepalive_interval)
            await asyncio.sleep(max(0.01, min(ahead - pacing, due)))
            if link.keepalive_due(self.session.keepalive_interval) == 0:
                await link.keep_alive()
