"""The turn ledger, the session's pure core: no event loop, no network, no clock.

What a listener relies on when a stream fails mid-turn: the turn resumes at a segment it had
not fully heard (nothing lost), it resends what it must and no more, streams are replaced
before the service's limits, and only errors a new stream can cure are retried.
"""

from __future__ import annotations

import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polly_pipeline.errors import (
    ConfigurationError,
    ConnectError,
    ConnectionClosedError,
    CorruptFrameError,
    CredentialsError,
    ReadTimeout,
    ResponseHeadersTimeout,
    ServiceFailureException,
    ServiceQuotaExceededException,
    SessionError,
    StreamResetError,
    StreamStateError,
    ThrottlingException,
    UnmodeledServiceError,
    ValidationException,
    WriteTimeout,
)
from polly_pipeline.session.ledger import (
    POLLY_IDLE_TIMEOUT,
    POLLY_MAX_STREAM_SECONDS,
    FailureKind,
    Outcome,
    TurnLedger,
    TurnMove,
    TurnPhase,
    classify,
    rollover_due,
    spare_fresh,
)
from polly_pipeline.session.rate import RATE_MARGIN, SpeakingRate
from polly_pipeline.session.session import SpeechSession

RATE = 0.05  # seconds of audio per character, in these examples
TEXTS = ["Good morning. ", "The train is late. ", "Take the bus instead. ", "Bye. "]


def ledger_with(texts: list[str], max_attempts: int = 4) -> TurnLedger:
    ledger = TurnLedger(max_attempts)
    for text in texts:
        ledger.add(text, flush=False)
    return ledger


def audio_for(texts: list[str]) -> float:
    """Seconds of audio for ``texts`` at RATE, summed as the ledger sums them."""
    seconds = 0.0
    for text in texts:
        seconds += len(text) * RATE
    return seconds


def send_all(ledger: TurnLedger, number: int = 1) -> None:
    span = ledger.open_span(number, ledger.resume)
    while ledger.pending(span):
        ledger.sent(span)


# -- resume point ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heard", "extra", "resume"),
    [
        (0, 0.0, 0),  # no audio: everything again
        (1, 0.0, 1),  # the first segment's audio exactly: resume at the second
        (1, 0.3, 1),  # part of the second's audio: the second again
        (2, 0.0, 2),
        (3, 0.2, 3),  # inside the last segment: only the last again
        (4, 0.0, 4),  # all audio in (the close was lost): nothing to resend
    ],
)
def test_the_resume_point_is_the_first_segment_not_fully_heard(
    heard: int, extra: float, resume: int
) -> None:
    ledger = ledger_with(TEXTS)
    send_all(ledger)
    span = ledger.spans[0]
    span.audio_seconds = audio_for(TEXTS[:heard]) + extra
    assert ledger.resume_point(span, RATE) == resume


def test_the_resume_point_judges_the_oldest_stream_still_delivering() -> None:
    # a rollover: stream 1 carried two segments and closed, stream 2 carries the rest
    ledger = ledger_with(TEXTS)
    first = ledger.open_span(1, 0)
    ledger.sent(first)
    ledger.sent(first)
    first.audio_seconds = audio_for(TEXTS[:2])
    first.closed = True
    second = ledger.open_span(2, first.end)
    ledger.sent(second)
    ledger.sent(second)
    second.audio_seconds = audio_for(TEXTS[2:3])
    assert ledger.resume_point(second, RATE) == 3
    # with stream 1 still delivering, its audio decides
    first.closed = False
    first.audio_seconds = audio_for(TEXTS[:1])
    assert ledger.resume_point(second, RATE) == 1


def test_a_slower_rate_resends_more_never_less() -> None:
    ledger = ledger_with(TEXTS)
    send_all(ledger)
    span = ledger.spans[0]
    span.audio_seconds = audio_for(TEXTS[:3])
    assert ledger.resume_point(span, RATE) == 3
    assert ledger.resume_point(span, RATE * RATE_MARGIN) == 2


def test_a_failure_reports_the_characters_it_resends() -> None:
    ledger = ledger_with(TEXTS)
    send_all(ledger)
    ledger.spans[0].audio_seconds = audio_for(TEXTS[:1]) + 0.1
    failure = ledger.fail(ledger.spans[0], ConnectionClosedError("GOAWAY"), RATE)
    assert failure.outcome is Outcome.RESUME
    assert failure.resume == 1
    assert failure.resent == len("".join(TEXTS[1:]))
    assert ledger.resume == 1
    assert ledger.spans == []  # the next chain starts afresh at the resume point


def test_a_failure_before_any_stream_opened_resumes_where_the_chain_began() -> None:
    ledger = ledger_with(TEXTS)
    failure = ledger.fail(None, ConnectError("refused"), RATE)
    assert (failure.outcome, failure.resume, failure.resent) == (Outcome.RESUME, 0, 0)


# -- retry classification and the give-up bound ---------------------------------------------------

RETRYABLE_ERRORS = [
    ConnectError("connection refused"),
    ResponseHeadersTimeout(2.0),
    ReadTimeout(2.0),
    WriteTimeout(2.0),
    StreamResetError("RST_STREAM", before_headers=True),
    ConnectionClosedError("GOAWAY"),
    ThrottlingException("slow down"),
    ServiceFailureException("internal"),
    ServiceQuotaExceededException("idle", quota_code="input-stream-inbound-event-timeout"),
    UnmodeledServiceError("bad gateway", status=502),
]
FATAL_ERRORS = [
    ValidationException("Text too long", reason="fieldValidationFailed"),
    UnmodeledServiceError("teapot", status=418),
    UnmodeledServiceError("no status"),
    CorruptFrameError("CRC mismatch"),
    CredentialsError("no credentials"),
    ConfigurationError("bad option"),
    StreamStateError("closed"),
    SessionError("gave up", attempts=3),
    RuntimeError("a bug"),
]


@pytest.mark.parametrize("error", RETRYABLE_ERRORS, ids=lambda e: type(e).__name__)
def test_errors_a_new_stream_can_cure_are_retried(error: Exception) -> None:
    assert classify(error) is FailureKind.RETRYABLE
    ledger = ledger_with(TEXTS)
    assert ledger.fail(None, error, RATE).outcome is Outcome.RESUME


@pytest.mark.parametrize("error", FATAL_ERRORS, ids=lambda e: type(e).__name__)
def test_errors_of_the_request_itself_are_raised_at_once(error: Exception) -> None:
    assert classify(error) is FailureKind.FATAL
    ledger = ledger_with(TEXTS)
    assert ledger.fail(None, error, RATE).outcome is Outcome.RAISE


def test_the_turn_gives_up_after_max_attempts_failures_without_progress() -> None:
    ledger = ledger_with(TEXTS, max_attempts=3)
    outcomes = [ledger.fail(None, ReadTimeout(1.0), RATE) for _ in range(3)]
    assert [o.outcome for o in outcomes] == [Outcome.RESUME, Outcome.RESUME, Outcome.GIVE_UP]
    assert [o.failures for o in outcomes] == [1, 2, 3]


def test_progress_resets_the_give_up_count() -> None:
    ledger = ledger_with(TEXTS, max_attempts=2)
    assert ledger.fail(None, ReadTimeout(1.0), RATE).failures == 1
    span = ledger.open_span(2, ledger.resume)
    ledger.sent(span)
    ledger.sent(span)
    span.audio_seconds = audio_for(TEXTS[:1])  # the first segment got through
    failure = ledger.fail(span, ReadTimeout(1.0), RATE)
    assert (failure.outcome, failure.failures, failure.resume) == (Outcome.RESUME, 1, 1)
    assert ledger.fail(None, ReadTimeout(1.0), RATE).outcome is Outcome.GIVE_UP


# -- rollover and the spare, at the service's limits ----------------------------------------------


def test_the_session_defaults_stay_inside_the_services_limits() -> None:
    defaults = inspect.signature(SpeechSession).parameters
    max_age = defaults["max_stream_age"].default
    keepalive = defaults["keepalive_interval"].default
    assert keepalive < POLLY_IDLE_TIMEOUT
    # a stream rolls over at a segment boundary after max_age: one more minute-long segment
    # on the old stream must still end before the service's 10-minute limit
    assert max_age + 60.0 <= POLLY_MAX_STREAM_SECONDS
    assert rollover_due(max_age, max_age, segments_on_stream=1)
    assert not rollover_due(max_age - 0.001, max_age, segments_on_stream=1)


def test_a_stream_that_carried_nothing_is_never_rolled_over() -> None:
    assert not rollover_due(POLLY_MAX_STREAM_SECONDS, 540.0, segments_on_stream=0)


def test_a_spare_is_used_only_with_half_its_life_left() -> None:
    assert spare_fresh(269.9, 540.0)
    assert not spare_fresh(270.0, 540.0)


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.floats(0.0, 60.0), min_size=1, max_size=120),
    max_age=st.floats(1.0, 540.0),
)
def test_rolling_over_keeps_every_stream_below_the_service_limit(
    gaps: list[float], max_age: float
) -> None:
    """Segments arrive ``gaps`` apart (each gap at most a minute): no stream outlives 10 min."""
    clock, opened, on_stream = 0.0, 0.0, 0
    for gap in gaps:
        clock += gap
        if rollover_due(clock - opened, max_age, segments_on_stream=on_stream):
            opened, on_stream = clock, 0
        on_stream += 1
        assert clock - opened < max_age + 60.0 + 1e-9 <= POLLY_MAX_STREAM_SECONDS + 1e-9


# -- the phase ------------------------------------------------------------------------------------


def test_a_finished_or_interrupted_turn_takes_no_more_text() -> None:
    ledger = ledger_with(TEXTS[:1])
    ledger.finish()
    with pytest.raises(StreamStateError, match="begin a new turn"):
        ledger.add("More. ", flush=False)
    ledger.apply(TurnMove.INTERRUPT)
    ledger.finish()  # finishing an interrupted turn changes nothing
    assert ledger.phase is TurnPhase.INTERRUPTED
    with pytest.raises(StreamStateError, match="begin a new turn"):
        ledger.add("More. ", flush=False)


def test_the_sent_text_is_what_reached_a_stream() -> None:
    ledger = ledger_with(TEXTS)
    span = ledger.open_span(1, 0)
    ledger.sent(span)
    ledger.sent(span)
    assert ledger.text_sent == TEXTS[0] + TEXTS[1]
    assert ledger.characters == len("".join(TEXTS))


# -- the speaking rate ----------------------------------------------------------------------------


def test_the_conservative_rate_is_the_slowest_seen_with_a_margin() -> None:
    rate = SpeakingRate(0.05)
    rate.learn(100, 10.0)  # 0.1 s per character: slower than the estimate
    rate.learn(100, 4.0)
    assert rate.conservative == pytest.approx(0.1 * RATE_MARGIN)
    assert 0.05 < rate.seconds_per_character < 0.1
    rate.learn(5, 50.0)  # too short a stream to teach anything
    assert rate.conservative == pytest.approx(0.1 * RATE_MARGIN)


# -- nothing lost, nothing duplicated across resumes (property) -----------------------------------


def simulate(
    lengths: list[int], failures: list[tuple[int, float]], true_rate: float, judge_rate: float
) -> tuple[list[int], list[list[int]], int]:
    """Run a turn through the ledger over several streams, then one that completes.

    Stream ``k`` fails after sending ``failures[k][0]`` segments, the audio of its last segment
    cut at ``failures[k][1]`` of its length; each stream speaks at ``true_rate`` seconds per
    character, the ledger judges at ``judge_rate``. Returns the segments the listener heard in
    full (in order, repeats included), the segments each stream carried, and the characters the
    ledger reported as resent.
    """
    ledger = TurnLedger(max_attempts=len(failures) + 2)
    for n in lengths:
        ledger.add("x" * n, flush=False)
    ledger.finish()
    heard: list[int] = []
    chains: list[list[int]] = []
    resent = 0
    for number, (count, fraction) in enumerate([*failures, (len(lengths), 1.0)]):
        span = ledger.open_span(number, ledger.resume)
        chain: list[int] = []
        while ledger.pending(span) and len(chain) < count:
            chain.append(span.end)
            ledger.sent(span)
        chains.append(chain)
        audio = 0.0
        for position, index in enumerate(chain):
            last = position == len(chain) - 1
            share = fraction if last else 1.0
            audio += lengths[index] * true_rate * share
            if share == 1.0:
                heard.append(index)
        span.audio_seconds = audio
        if number == len(failures):
            span.closed = True
            break
        failure = ledger.fail(span, ConnectionClosedError("dropped"), judge_rate)
        assert failure.outcome is Outcome.RESUME
        resent += failure.resent
    return heard, chains, resent


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 80), min_size=1, max_size=12),
    failures=st.lists(
        st.tuples(st.integers(0, 12), st.sampled_from([0.0, 0.25, 0.5, 0.99, 1.0])), max_size=5
    ),
    true_rate=st.floats(0.03, 0.12),
    margin=st.sampled_from([1.0, RATE_MARGIN]),
)
def test_nothing_is_lost_or_resent_beyond_the_unheard_audio(
    lengths: list[int], failures: list[tuple[int, float]], true_rate: float, margin: float
) -> None:
    heard, chains, resent = simulate(lengths, failures, true_rate, true_rate * margin)
    everything = list(range(len(lengths)))
    # nothing lost: every segment was heard in full, and each stream started at a segment
    # all of whose predecessors had been heard in full
    assert set(heard) == set(everything)
    heard_so_far: set[int] = set()
    position = 0
    for chain in chains:
        if chain:
            assert chain == list(range(chain[0], chain[0] + len(chain)))  # no gap, no repeat
            assert set(range(chain[0])) <= heard_so_far, f"stream from {chain[0]} skips a segment"
        for index in chain:
            if position < len(heard) and heard[position] == index:
                heard_so_far.add(index)
                position += 1
    assert chains[-1] == everything[len(everything) - len(chains[-1]) :]
    # the characters the turn reports as resent are exactly those sent a second time
    assert sum(lengths[i] for chain in chains for i in chain) == sum(lengths) + resent
    # judged at the true rate, nothing heard in full is ever sent again
    if margin == 1.0:
        assert heard == everything


def test_audio_that_completes_no_segment_is_not_progress() -> None:
    """A service that speaks a little of the first segment, then stalls, every time: the turn
    gives up after max_attempts instead of retrying forever."""
    ledger = ledger_with(TEXTS, max_attempts=3)
    outcomes = []
    for _ in range(3):
        span = ledger.open_span(2, ledger.resume)
        ledger.sent(span)
        span.audio_seconds = audio_for(TEXTS[:1]) / 4  # part of the first segment
        outcomes.append(ledger.fail(span, ReadTimeout(1.0), RATE))
    assert [o.resume for o in outcomes] == [0, 0, 0]
    assert [o.outcome for o in outcomes] == [Outcome.RESUME, Outcome.RESUME, Outcome.GIVE_UP]
