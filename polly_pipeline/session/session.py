"""Session layer: the session facade, one persistent speech session per conversation.

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
  with keep-alive events, so a turn starts on an open stream with no setup latency.
- **Keep-alive that adapts.** While a turn's stream or the spare waits for text, an empty
  TextEvent is sent once ``keepalive_interval`` seconds pass without input, below Polly's
  5-second inbound-event timeout. It is never audible, bills nothing and cannot split a word.
  If the service rejects it (a ``ValidationException`` naming the text), the session switches
  to a single space for all its later streams (:attr:`SpeechSession.keepalive_text`), sent
  only between words (a trailing partial word waits for the rest of its word), and the turn
  goes on on a new stream from its resume point, as after any retryable failure.
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
- **Account quotas.** A stream the service refuses for a concurrency or rate quota
  (``ThrottlingException``) is not a failure: the turn waits for a slot with the same backoff,
  for up to ``RetryPolicy.max_throttle_wait`` seconds in all, and its metrics show the wait
  (``TurnMetrics.throttles``, ``TurnMetrics.throttled_seconds``).
- **Barge-in.** :meth:`Turn.interrupt` stops delivery at once (no chunk is yielded after it
  returns), drops the turn's pending text, closes its streams and reports what was heard.

The parts: :mod:`~polly_pipeline.session.link` (one stream as the session uses it),
:mod:`~polly_pipeline.session.warm` (the spare stream and retirements),
:mod:`~polly_pipeline.session.rate` (the speaking-rate model),
:mod:`~polly_pipeline.session.ledger` (the pure turn ledger: segments, spans, resume point,
rollover and retry decisions), :mod:`~polly_pipeline.session.phase` (where a turn is, its
state machine), :mod:`~polly_pipeline.session.turn` and
:mod:`~polly_pipeline.session.driver` (the turn and its asyncio driver),
:mod:`~polly_pipeline.session.retry` (the backoff policy). This module wires them together.
"""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from collections.abc import Callable, Sequence

from polly_pipeline._aio import AsyncResource
from polly_pipeline.audio import AudioFormat
from polly_pipeline.client.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError, StreamStateError
from polly_pipeline.protocol.params import SynthesisParams
from polly_pipeline.session.driver import TurnContext
from polly_pipeline.session.events import InterruptReport, RetryPolicy, SessionEvent, TurnMetrics
from polly_pipeline.session.ledger import POLLY_IDLE_TIMEOUT, POLLY_MAX_STREAM_SECONDS
from polly_pipeline.session.rate import SpeakingRate
from polly_pipeline.session.tasks import SessionTasks
from polly_pipeline.session.turn import Turn
from polly_pipeline.session.warm import WarmStreams

__all__ = ["SpeechSession", "Turn"]

log = logging.getLogger("polly_pipeline.session")

#: How many session events and turn metrics a session keeps by default.
DEFAULT_HISTORY_LIMIT = 1000


class SpeechSession(AsyncResource):
    """A persistent speech session over one client (many sessions may share a client).

    Args:
        client: the client whose connection pool the session's streams use.
        voice_id, engine, output_format, sample_rate, language_code, lexicon_names: the
            synthesis parameters (validated at once).
        keepalive_interval: seconds of silence on a stream before a keep-alive (less than
            Polly's 5 s inbound-event timeout).
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
        _check_seconds("keepalive_interval", keepalive_interval, below=POLLY_IDLE_TIMEOUT)
        _check_seconds("max_stream_age", max_stream_age, most=POLLY_MAX_STREAM_SECONDS)
        _check_seconds("seconds_per_character", seconds_per_character)
        if pacing is not None:
            _check_seconds("pacing", pacing)
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
        self.history: deque[SessionEvent] = deque(maxlen=history_limit)
        self.turns: deque[TurnMetrics] = deque(maxlen=history_limit)
        self.turns_started = 0
        self._on_event = on_event
        self._rate = SpeakingRate(seconds_per_character)
        rng = random.Random(seed)
        #: the one owner of the session's background tasks, closed last
        self._tasks = SessionTasks()
        self._streams = WarmStreams(
            client,
            self.params,
            self.format,
            keepalive_interval=keepalive_interval,
            max_stream_age=max_stream_age,
            retry=self.retry,
            rng=rng,
            emit=self._emit,
            tasks=self._tasks,
        )
        self._context = TurnContext(
            streams=self._streams,
            rate=self._rate,
            format=self.format,
            retry=self.retry,
            rng=rng,
            keepalive_interval=keepalive_interval,
            max_stream_age=max_stream_age,
            pacing=pacing,
            emit=self._emit,
            next_sequence=self._next_sequence,
            tasks=self._tasks,
        )
        self._turn: Turn | None = None
        self._closed = False
        self._sequence = 0

    def __repr__(self) -> str:
        p = self.params
        where = f"voice={p.voice_id} format={p.output_format}"
        return f"<SpeechSession {where} turns={self.turns_started}>"

    @property
    def seconds_per_character(self) -> float:
        """The speaking rate measured so far (seconds of audio per character of text)."""
        return self._rate.seconds_per_character

    @property
    def keepalive_text(self) -> str:
        """What keeps idle streams alive: ``""`` (an empty TextEvent), or ``" "`` once the
        service rejected an empty one (remembered for the session's later streams)."""
        return self._streams.keepalive.text

    @property
    def conservative_rate(self) -> float:
        """Seconds per character used to judge what received audio surely covers."""
        return self._rate.conservative

    # -- lifetime -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Pre-warm: open the first stream now (errors such as bad credentials surface here)."""
        if self._closed:
            raise StreamStateError("the speech session is closed")
        await self._streams.start()

    async def aclose(self) -> None:
        """Interrupt any turn, close every stream and stop every task. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._streams.stop()
        if self._turn is not None:
            if not self._turn.done:
                await self._turn.interrupt()
            await self._turn.settled()
        await self._streams.aclose()
        await self._tasks.aclose()  # whatever still runs: cancelled and awaited

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
        turn = Turn(self._context, self.turns_started)
        self.turns_started += 1
        self.turns.append(turn.metrics)
        self._turn = turn
        return turn

    async def interrupt(self) -> InterruptReport | None:
        """Barge-in on the current turn, if one is speaking."""
        if self._turn is None or self._turn.done:
            return None
        return await self._turn.interrupt()

    # -- what the session reports -----------------------------------------------------------------

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


def _check_seconds(
    name: str, value: object, *, below: float | None = None, most: float | None = None
) -> None:
    """Raise ConfigurationError unless ``value`` is a finite number of seconds > 0 (and below
    ``below``, at most ``most``: the service's limits), saying what to change."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}")
    if not 0 < value < math.inf:
        raise ConfigurationError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    if below is not None and value >= below:
        raise ConfigurationError(
            f"{name}={value!r} is too long: Polly ends a stream that receives no input event "
            f"for {below:g} s, so keep-alives must come sooner; use less than {below:g}"
        )
    if most is not None and value > most:
        raise ConfigurationError(
            f"{name}={value!r} is too long: Polly ends a stream after {most:g} s, so it must "
            f"be rolled over before; use at most {most:g}"
        )
