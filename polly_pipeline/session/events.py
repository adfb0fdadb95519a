"""Session layer: what a session reports (events, turn metrics, barge-in).

:class:`RetryPolicy` is re-exported from :mod:`polly_pipeline.session.retry`, where it lives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from polly_pipeline.session.retry import RetryPolicy

__all__ = [
    "InterruptReport",
    "RetryPolicy",
    "SessionEvent",
    "StreamOpened",
    "StreamRetry",
    "StreamRollover",
    "TurnCompleted",
    "TurnMetrics",
]


@dataclass
class TurnMetrics:
    """What one turn cost and how it went.

    Attributes:
        turn_id: the turn's number in the session.
        time_to_first_audio: seconds from the first text sent to the first audio received.
        characters_sent: characters of the turn's text (each segment counted once).
        characters_resent: characters sent again on a new stream after a failure.
        characters_billed: RequestCharacters reported by the service, summed over the
            streams that completed (a failed stream reports none).
        audio_seconds: seconds of audio delivered.
        retries: streams that failed and were retried.
        throttles: streams the service refused for a concurrency or rate quota (each time
            the turn waited with backoff and tried again; see ``RetryPolicy.max_throttle_wait``).
        throttled_seconds: seconds the turn waited for a slot: the backoff after those
            refusals, the time it waited for the session's spare stream while the service
            refused to open one, and the time its streams waited for a slot of the client's
            ``max_streams`` (all counted against ``RetryPolicy.max_throttle_wait``).
        rollovers: planned moves to a fresh stream (age limit).
        streams: streams used by the turn.
        interrupted: True when the turn was cut short by ``interrupt()``.
    """

    turn_id: int
    time_to_first_audio: float | None = None
    characters_sent: int = 0
    characters_resent: int = 0
    characters_billed: int = 0
    audio_seconds: float = 0.0
    retries: int = 0
    throttles: int = 0
    throttled_seconds: float = 0.0
    rollovers: int = 0
    streams: int = 0
    interrupted: bool = False


@dataclass(frozen=True)
class InterruptReport:
    """What barge-in cut: how much was sent and, roughly, how much the listener heard.

    ``seconds_heard`` assumes playback started with the first audio chunk and ran in real
    time; ``characters_heard`` converts it with the speaking rate measured so far.
    """

    turn_id: int
    characters_sent: int
    text_sent: str
    audio_seconds_delivered: float
    seconds_heard: float
    characters_heard: int

    @property
    def text_heard(self) -> str:
        """The start of the sent text that was (roughly) heard."""
        return self.text_sent[: self.characters_heard]


@dataclass(frozen=True)
class StreamOpened:
    """A new Polly stream was opened (``purpose``: "turn", "spare", "rollover", "retry")."""

    stream_number: int
    purpose: str


@dataclass(frozen=True)
class StreamRetry:
    """A stream failed mid-turn; the turn resumes on a new stream after ``delay`` seconds.

    ``throttled``: the service refused for a concurrency or rate quota and the turn is waiting
    for a slot (``attempt`` then counts the refusals in a row).
    """

    turn_id: int
    attempt: int
    delay: float
    error: str
    resume_segment: int
    throttled: bool = False


@dataclass(frozen=True)
class StreamRollover:
    """The turn moved to a fresh stream before the service's duration limit."""

    turn_id: int
    next_segment: int


@dataclass(frozen=True)
class TurnCompleted:
    """A turn's audio was all delivered (or it was interrupted)."""

    metrics: TurnMetrics = field(repr=True)


SessionEvent = StreamOpened | StreamRetry | StreamRollover | TurnCompleted
