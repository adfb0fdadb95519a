"""Where a turn resumes after its stream failed: never past a word whose audio was not all in.

The ledger sees only seconds of audio per stream, never which words they speak, and judges
them at its conservative rate. A segment spoken slower than that rate (numbers, a long pause)
must not lend its surplus seconds to a later segment that was never spoken: audio received
before a segment was sent is surely the earlier segments'.

The property runs on the pure ledger; the end-to-end test runs a session over the in-memory
transport against the local service, whose records say which texts were spoken in full.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from hypothesis import example, given
from hypothesis import strategies as st

from polly_pipeline.errors import ConnectionClosedError
from polly_pipeline.local.config import Fault, LocalServiceConfig
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session.events import RetryPolicy, StreamRetry
from polly_pipeline.session.ledger import Outcome, TurnLedger
from polly_pipeline.session.session import SpeechSession
from tests.conftest import TEST_TIMEOUTS
from tests.session.recording import service_with_faults

#: audio a test allows to be short of a segment's end and still call it received (float sums)
EPSILON = 1e-9


@dataclass(frozen=True)
class Timeline:
    """One stream's story until it failed.

    ``lengths[i]`` characters of segment ``i`` are spoken at ``rates[i]`` seconds per
    character; ``marks[i]`` seconds of audio had arrived when segment ``i`` was sent; the
    stream failed after ``received`` seconds; the ledger judges at ``judge`` seconds per
    character (all segments were sent before the failure).
    """

    lengths: list[int]
    rates: list[float]
    marks: list[float]
    received: float
    judge: float

    @property
    def ends(self) -> list[float]:
        """Where each segment's audio ends on the stream, in seconds."""
        out, total = [], 0.0
        for length, rate in zip(self.lengths, self.rates, strict=True):
            total += length * rate
            out.append(total)
        return out

    @property
    def first_unreceived(self) -> int:
        """The first segment whose audio was not all received (len: all were)."""
        return next(
            (i for i, end in enumerate(self.ends) if self.received < end - EPSILON),
            len(self.lengths),
        )


@st.composite
def timelines(draw: st.DrawFn) -> Timeline:
    """Any segmentation, any speaking rate per segment, any failure point.

    What no account of seconds can tell apart: a segment spoken slower than the judge rate
    whose audio is still arriving when the next segment is sent (or the stream fails), and
    slow audio covering a later segment. Only the judge rate's margin covers that case, so
    here a segment spoken slower than the judge rate is spoken in full before what comes next.
    """
    judge = draw(st.floats(0.03, 0.12))
    count = draw(st.integers(1, 8))
    lengths = draw(st.lists(st.integers(0, 80), min_size=count, max_size=count))
    rates: list[float] = []
    marks: list[float] = []
    heard = 0.0
    for index in range(count):
        marks.append(heard)
        slow = draw(st.booleans())
        rate = draw(st.floats(judge, 0.5) if slow else st.floats(0.01, judge))
        rates.append(rate)
        end = sum(n * r for n, r in zip(lengths[: index + 1], rates, strict=True))
        # what had arrived when the next segment was sent (or the stream failed)
        fraction = 1.0 if slow else draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]) | st.floats(0, 1))
        heard = max(heard, marks[-1] + (end - marks[-1]) * fraction)
    return Timeline(lengths, rates, marks, heard, judge)


def judge(timeline: Timeline) -> tuple[int, int]:
    """The ledger's resume point and reported resent characters after the stream failed."""
    ledger = TurnLedger(max_attempts=4)
    for length in timeline.lengths:
        ledger.add("x" * length, flush=False)
    span = ledger.open_span(1, 0)
    for mark in timeline.marks:
        span.audio_seconds = mark
        ledger.sent(span)
    span.audio_seconds = timeline.received
    failure = ledger.fail(span, ConnectionClosedError("dropped"), timeline.judge)
    assert failure.outcome is Outcome.RESUME
    return failure.resume, failure.resent


# Found on main: a 40-character segment spoken at 0.3 s per character (12 s) before the next
# was sent; the judge rate (0.1) credits 8 of its seconds to the next 40 characters, which
# were never spoken, and the turn resumed after them.
@example(Timeline([40, 40], [0.3, 0.05], [0.0, 12.0], 12.5, 0.1))
@given(timelines())
def test_the_resume_point_skips_no_text_whose_audio_was_not_all_in(timeline: Timeline) -> None:
    resume, resent = judge(timeline)
    first_unreceived = timeline.first_unreceived
    assert resume <= first_unreceived, (
        f"resumed at segment {resume}: segment {first_unreceived} was never heard in full"
    )
    # it resends what it says it resends: everything from the resume point on
    assert resent == sum(timeline.lengths[resume:])
    # beyond the segment it resumes at, it resends audio already received only as far as
    # the judge rate overestimates what came before (the price of its margin): with the
    # judge rate every segment's true rate, exactly what was not all received
    ends, lengths, rates = timeline.ends, timeline.lengths, timeline.rates
    if first_unreceived > resume + 1:
        overestimate = sum(
            n * max(0.0, timeline.judge - r)
            for n, r in zip(lengths[: resume + 1], rates, strict=False)
        )
        assert ends[first_unreceived - 1] - ends[resume] < overestimate + EPSILON


# -- end to end -----------------------------------------------------------------------------------

#: spoken far slower than the session's conservative rate (digits are read out as words)
NUMBERS = "The codes are 4817 2293 6650 and 1234 5678. "
TEXTS = [NUMBERS, "Then take the second road on the left. ", "And you are there. "]
PIECE = 1024  # bytes of audio per AudioEvent: many events per segment


@asynccontextmanager
async def speaking(service: LocalPollyService) -> AsyncIterator[SpeechSession]:
    """A session on ``service`` over the in-memory transport (retries at once)."""
    async with (
        memory_client(service, timeouts=TEST_TIMEOUTS) as client,
        SpeechSession(client, voice_id="Joanna", retry=RetryPolicy(base_delay=0.01)) as session,
    ):
        yield session


async def test_a_slow_segment_spoken_before_a_failure_does_not_cover_the_next() -> None:
    """A long, slow segment is heard in full, then the stream dies in the next segment."""
    probe = LocalPollyService(LocalServiceConfig(audio_event_bytes=PIECE))
    async with speaking(probe) as session:
        turn = await session.begin_turn()
        await turn.send(NUMBERS, flush=True)
        await turn.finish()
        events_of_numbers = len([chunk async for chunk in turn.audio()])
    service = service_with_faults(
        Fault("reset", "mid_stream", after_audio_events=events_of_numbers + 2),
        audio_event_bytes=PIECE,
    )
    async with speaking(service) as session:
        turn = await session.begin_turn()
        audio = turn.audio()
        async with asyncio.timeout(30):
            await turn.send(NUMBERS, flush=True)
            # the numbers are heard in full before the next segments go out
            chunks = [await anext(audio) for _ in range(events_of_numbers)]
            for text in TEXTS[1:]:
                await turn.send(text, flush=True)
            await turn.finish()
            chunks += [chunk async for chunk in audio]
    first = service.streams[0]
    assert [e for e in session.history if isinstance(e, StreamRetry)], "no stream failed"
    assert first.spoken == [NUMBERS], "the failure did not land inside the second segment"
    heard = [text for record in service.streams for text in record.spoken]
    # every word at least once, in order: the turn's texts are a subsequence of what was heard
    remaining = iter(heard)
    missing = [text for text in TEXTS if text not in remaining]
    assert not missing, f"never heard in full: {missing}; heard {heard}"
    assert len(chunks) > events_of_numbers
