"""Session layer, pure core: the turn ledger (no I/O, no asyncio, no clock).

A turn's text arrives as segments and leaves over one or more Polly streams. The ledger keeps
the account that recovery and rollover depend on, and decides from it:

- **Segments** in the order they were sent to the turn, each with the character offset where it
  ends in the turn's text.
- **Spans**: the run of segments one stream carries (``start`` to ``end``, end exclusive), the
  audio seconds received on it, and whether its ``StreamClosedEvent`` arrived (all its audio is
  in). A turn's spans form a chain; after a failure the chain is dropped and a new one starts at
  the resume point.
- **The phase** of the turn (:class:`~polly_pipeline.session.phase.TurnPhase`, the one
  record of where the turn is: open, finished, done, failed with its error, or interrupted),
  moved only by :meth:`TurnLedger.apply` along the table in :mod:`~polly_pipeline.session.phase`.
- **Decisions**: where to resume after a stream failed (:meth:`TurnLedger.resume_point`), whether
  to roll a stream over (:func:`rollover_due`), whether an error may be retried
  (:func:`classify`) and what a failure leads to (:meth:`TurnLedger.fail`).

The asyncio driver (:mod:`polly_pipeline.session.driver`) feeds it facts (a segment was sent,
this much audio arrived, this stream closed, this stream failed) and acts on its answers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from polly_pipeline.errors import StreamStateError
from polly_pipeline.session.failures import FailureKind, classify, refused_for_quota
from polly_pipeline.session.phase import TurnMove, TurnPhase, after

__all__ = [
    "POLLY_IDLE_TIMEOUT",
    "POLLY_MAX_STREAM_SECONDS",
    "Failure",
    "FailureKind",
    "Outcome",
    "Segment",
    "Span",
    "TurnLedger",
    "TurnMove",
    "TurnPhase",
    "classify",
    "ends_between_words",
    "refused_for_quota",
    "rollover_due",
    "spare_fresh",
]

#: The service closes a stream that has lived this many seconds (10 minutes).
POLLY_MAX_STREAM_SECONDS = 600.0
#: The service closes a stream that received no input event for this many seconds.
POLLY_IDLE_TIMEOUT = 5.0


def rollover_due(age: float, max_age: float, *, segments_on_stream: int) -> bool:
    """Whether a stream of ``age`` seconds is replaced before its next segment.

    Only at a segment boundary and only once the stream carried a segment, so a turn always
    moves forward (a stream that carried nothing is never traded for another).
    """
    return age >= max_age and segments_on_stream > 0


#: Punctuation after which a space changes nothing though no whitespace follows (Chinese and
#: Japanese put none after their sentence and clause marks).
_CJK_MARKS = frozenset("。！？、，；：」』）】")


def ends_between_words(text: str) -> bool:
    """Whether ``text`` ends where a space cannot split a word (whitespace or a CJK mark)."""
    return text[-1:].isspace() or text[-1:] in _CJK_MARKS


def spare_fresh(age: float, max_age: float) -> bool:
    """Whether a warm spare stream is young enough to start a turn on (half its life left)."""
    return age < max_age / 2


@dataclass(frozen=True)
class Segment:
    """One piece of a turn's text, as the caller sent it.

    Attributes:
        text: the text (may be empty for a bare flush).
        flush: whether Polly is asked to synthesize everything buffered with it.
        end: characters of the turn's text up to the end of this segment.
    """

    text: str
    flush: bool
    end: int

    @property
    def start(self) -> int:
        """Characters of the turn's text before this segment."""
        return self.end - len(self.text)


@dataclass
class Span:
    """The segments one stream carries: ``start`` to ``end`` (end exclusive).

    Attributes:
        number: the stream's number in the session.
        start: the index of the first segment sent on the stream.
        end: one past the last segment sent on it.
        audio_seconds: seconds of audio received on it so far.
        closed: its ``StreamClosedEvent`` arrived: all its audio is in.
        marks: for each segment sent on it, the audio seconds it had received just before
            (that audio is surely the earlier segments').
    """

    number: int
    start: int
    end: int = field(init=False)
    audio_seconds: float = 0.0
    closed: bool = False
    marks: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.end = self.start


class Outcome(enum.Enum):
    """What a failed stream leads to."""

    #: wait the backoff, then go on from the resume point on a new stream
    RESUME = "resume"
    #: raise the error as it is (it cannot be retried)
    RAISE = "raise"
    #: too many failures in a row without progress: the turn fails
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class Failure:
    """The ledger's answer to a failed stream.

    Attributes:
        outcome: what the turn does next.
        resume: the first segment to send again (the resume point).
        failures: consecutive failures without progress, this one included (for a quota
            refusal: consecutive quota refusals, which have a budget of their own).
        resent: characters that going on from ``resume`` sends a second time.
        throttled: the service refused for a concurrency or rate quota (the turn waits for
            a slot within its throttle budget, see :meth:`TurnLedger.throttle_wait`).
    """

    outcome: Outcome
    resume: int
    failures: int
    resent: int
    throttled: bool = False


class TurnLedger:
    """The account of one turn: segments, spans, phase, and the decisions drawn from them.

    Args:
        max_attempts: consecutive failures without progress after which the turn gives up.
        max_throttle_wait: seconds the turn may wait in all while the service refuses its
            streams for a concurrency or rate quota; such refusals do not count as failures.
    """

    def __init__(self, max_attempts: int, max_throttle_wait: float = 60.0) -> None:
        self.max_attempts = max_attempts
        self.max_throttle_wait = max_throttle_wait
        #: seconds waited so far after quota refusals, and the consecutive refusals
        self.throttled_seconds = 0.0
        self.throttles = 0
        self.segments: list[Segment] = []
        #: the current chain of spans (dropped after a failure)
        self.spans: list[Span] = []
        self.phase = TurnPhase.OPEN
        #: why delivery failed (set when the phase becomes FAILED)
        self.error: BaseException | None = None
        #: characters of the turn's text sent on some stream (the furthest segment end)
        self.sent_chars = 0
        #: where the current chain started
        self.resume = 0
        self.failures = 0

    # -- the caller's side ----------------------------------------------------------------------

    def apply(self, move: TurnMove, error: BaseException | None = None) -> TurnPhase:
        """Make ``move`` (``error``: why delivery failed, for :attr:`TurnMove.FAIL`).

        Returns the phase after it.

        Raises:
            StreamStateError: the move is not legal in the current phase (e.g. completing a
                turn whose input is still open); see :data:`~.phase.TURN_TRANSITIONS`.
        """
        phase = after(self.phase, move)
        if phase is TurnPhase.FAILED and self.phase is not TurnPhase.FAILED:
            self.error = error
        self.phase = phase
        return phase

    def finish(self) -> None:
        """No more text will come (a no-op once finished, done, failed or interrupted)."""
        self.apply(TurnMove.FINISH)

    def check_open(self) -> None:
        """Raise unless the turn takes more text.

        Raises:
            StreamStateError: the turn is finished or interrupted.
        """
        if self.phase is not TurnPhase.OPEN:
            raise StreamStateError("this turn is finished; begin a new turn to say more")

    def add(self, text: str, flush: bool) -> Segment:
        """Record a segment the caller sent.

        Raises:
            StreamStateError: the turn takes no more text (finished or interrupted).
        """
        self.check_open()
        segment = Segment(text, flush, self.characters + len(text))
        self.segments.append(segment)
        return segment

    @property
    def characters(self) -> int:
        """Characters of the turn's text received so far."""
        return self.segments[-1].end if self.segments else 0

    def characters_in(self, start: int, end: int) -> int:
        """Characters of segments ``start`` to ``end`` (end exclusive)."""
        if end <= start:
            return 0
        first = self.segments[start].start
        return self.segments[end - 1].end - first

    @property
    def text_sent(self) -> str:
        """The turn's text that reached some stream, in order."""
        return "".join(s.text for s in self.segments)[: self.sent_chars]

    @property
    def input_complete(self) -> bool:
        """No more text will come (finished or interrupted)."""
        return self.phase is not TurnPhase.OPEN

    # -- the streams' side ----------------------------------------------------------------------

    def open_span(self, number: int, start: int) -> Span:
        """A stream joins the chain, carrying segments from ``start`` on."""
        span = Span(number, start)
        self.spans.append(span)
        return span

    def sent(self, span: Span, heard: float | None = None) -> Segment:
        """The next segment went out on ``span``'s stream; returns it.

        ``heard``: the audio seconds the stream had received just before the segment was sent
        (default: those it has now).
        """
        segment = self.segments[span.end]
        span.marks.append(span.audio_seconds if heard is None else heard)
        span.end += 1
        self.sent_chars = max(self.sent_chars, segment.end)
        return segment

    def pending(self, span: Span) -> bool:
        """Whether a segment waits to be sent after ``span``'s last one."""
        return span.end < len(self.segments)

    def sendable(self, span: Span, *, whole_words: bool) -> bool:
        """Whether the next segment after ``span``'s last one may go out now.

        Always, unless ``whole_words``: then, while the input is open, only when it starts a
        run of pending segments that ends between words (:meth:`between_words`), so the
        stream's text never stops inside a word while it waits for more, and a space
        keep-alive can always be sent there. A model's tokens (" how", " are") wait one token.
        """
        if not self.pending(span):
            return False
        if not whole_words or self.input_complete:
            return True
        return any(self.between_words(j) for j in range(span.end, len(self.segments)))

    def between_words(self, index: int) -> bool:
        """Whether a space after segment ``index`` cannot split a word.

        It is a flush (the service synthesized everything before it), it ends in whitespace
        or a CJK mark (:func:`ends_between_words`), or the segment after it begins with
        whitespace.
        """
        segment = self.segments[index]
        if segment.flush or ends_between_words(segment.text):
            return True
        following = self.segments[index + 1 : index + 2]
        return bool(following) and following[0].text[:1].isspace()

    def next_text(self, span: Span) -> str:
        """The text of the next segment after ``span``'s last one ("" when none waits)."""
        return self.segments[span.end].text if self.pending(span) else ""

    @property
    def sent_upto(self) -> int:
        """One past the furthest segment the current chain sent."""
        return max((s.end for s in self.spans), default=self.resume)

    def resume_point(self, failed: Span | None, rate: float) -> int:
        """The first segment whose audio may be incomplete after ``failed``'s stream failed.

        Judged on the oldest span whose audio is not all in: each of its segments counts as
        heard only while its characters, at ``rate`` seconds per character (a conservative,
        slow rate), fit in the audio seconds received after those of the segments before it.
        Audio received before a segment was sent is never its own: a segment spoken slower
        than ``rate`` (numbers, a long pause) lends its surplus to no later segment. So the
        answer never skips a segment whose audio was not all in, unless one spoken slower than
        ``rate`` was still being spoken when it was sent; it may resend the one in flight (and
        rarely the one before it). When every stream of the chain closed (``failed`` too: the
        turn could not open the stream to roll over to), all that was sent was heard.
        """
        oldest = next((s for s in self.spans if not s.closed), failed)
        if oldest is None:
            return self.resume
        if oldest.closed:  # every stream's audio is all in (a rollover failed to open): all heard
            return oldest.end
        spent = 0.0
        index = oldest.start
        while index < oldest.end:
            spent = max(spent, oldest.marks[index - oldest.start])
            spent += len(self.segments[index].text) * rate
            if spent > oldest.audio_seconds:
                break
            index += 1
        return index

    def fail(
        self,
        failed: Span | None,
        error: BaseException,
        rate: float,
        spent: float = 0.0,
        *,
        retryable: bool = False,
    ) -> Failure:
        """Record that ``failed``'s stream (None: no stream was open) ended with ``error``.

        ``spent``: seconds the refused attempt itself waited (for a slot of the client's
        own cap, say); a quota refusal counts them against the throttle budget.

        Drops the chain; the next one starts at the returned resume point. A failure counts
        towards the give-up bound only when the chain made no progress (no new segment fully
        heard). ``retryable`` retries an error that
        :func:`classify` calls fatal (the session knows a new stream avoids it: a rejected
        empty keep-alive). A refusal for a concurrency or rate quota without progress counts
        against the throttle budget instead: the turn gives up once :meth:`throttle_wait` has
        used it all.
        """
        resume = self.resume_point(failed, rate)
        # progress is a resume point further on; audio on the failed stream alone is not (a
        # service that speaks a little of a segment and then stalls would be retried forever)
        progress = resume > self.resume
        throttled = not progress and refused_for_quota(error)
        if throttled:
            self.throttles += 1
            self.throttled_seconds += spent
        else:
            self.throttles = 0
            self.failures = 1 if progress else self.failures + 1
        resent = self.characters_in(resume, self.sent_upto)
        self.spans.clear()
        if not retryable and classify(error) is FailureKind.FATAL:
            outcome = Outcome.RAISE
        elif (
            self.throttled_seconds >= self.max_throttle_wait
            if throttled
            else self.failures >= self.max_attempts
        ):
            outcome = Outcome.GIVE_UP
        else:
            outcome = Outcome.RESUME
            self.resume = resume
        count = self.throttles if throttled else self.failures
        resent = resent if outcome is Outcome.RESUME else 0
        return Failure(outcome, resume, count, resent, throttled)

    def throttle_wait(self, delay: float) -> float:
        """The part of a backoff ``delay`` the throttle budget still allows; it is spent."""
        wait = max(0.0, min(delay, self.max_throttle_wait - self.throttled_seconds))
        self.throttled_seconds += wait
        return wait
