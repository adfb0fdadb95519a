"""An account's limit on concurrent streams: sessions wait for a slot instead of failing.

The local service enforces ``max_streams`` over all its connections and refuses a stream beyond
it with ``ThrottlingException``, as Amazon Polly does beyond an account's quota. A turn refused
that way waits with backoff, within ``RetryPolicy.max_throttle_wait``, and its metrics show the
wait; the refusals do not count towards ``max_attempts``.
"""

from __future__ import annotations

import asyncio

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import (
    ReadTimeout,
    ServiceQuotaExceededException,
    SessionError,
    ThrottlingException,
)
from polly_pipeline.local.admission import CONCURRENCY_REASON
from polly_pipeline.local.config import Fault, FaultPlan, LocalServiceConfig
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session.events import RetryPolicy, StreamRetry, TurnMetrics
from polly_pipeline.session.ledger import Outcome, TurnLedger, refused_for_quota
from polly_pipeline.session.session import SpeechSession
from polly_pipeline.testing import virtual_clock
from tests.client.counting import RELAXED, CountingTransport
from tests.conftest import TEST_TIMEOUTS

LIMIT = 2
IDLE_QUOTA = "input-stream-inbound-event-timeout"
SESSIONS = 5
RETRY = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.3, max_throttle_wait=30.0)


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    return LocalServiceConfig(inbound_event_timeout=1.0, max_streams=LIMIT)


def texts_of(n: int) -> list[str]:
    return [f"Session {n} opens its answer. ", f"Session {n} closes its answer now. "]


async def one_turn(client: PollyStreamingClient, n: int, events: list[StreamRetry]) -> TurnMetrics:
    async with SpeechSession(
        client,
        voice_id="Joanna",
        keepalive_interval=0.3,
        retry=RETRY,
        seed=n,
        on_event=lambda e: events.append(e) if isinstance(e, StreamRetry) else None,
    ) as session:
        turn = await session.begin_turn()
        for i, text in enumerate(texts_of(n)):
            await turn.send(text, flush=i == 0)
        await turn.finish()
        seconds = sum([chunk.seconds async for chunk in turn.audio()])
        assert seconds > 1.0, f"session {n} got {seconds:.2f}s of audio"
        return turn.metrics


async def test_five_sessions_share_two_account_slots_and_all_complete(
    local_polly: LocalPollyService,
) -> None:
    # one client (one connection) per session: the limit is the account's, not a connection's
    clients = [local_polly.client(timeouts=RELAXED) for _ in range(SESSIONS)]
    events: list[StreamRetry] = []
    try:
        metrics = await asyncio.wait_for(
            asyncio.gather(*(one_turn(c, n, events) for n, c in enumerate(clients))), 60
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    admission = local_polly.admission
    assert admission.peak == LIMIT  # the service ran two streams at once, never more
    assert admission.refused > 0  # and refused the others as Amazon does
    # every text was heard once: the streams that completed spoke each sentence exactly once
    spoken = "".join("".join(r.spoken) for r in local_polly.streams)
    for n in range(SESSIONS):
        for text in texts_of(n):
            assert spoken.count(text) == 1, (text, spoken)
        assert metrics[n].characters_billed == sum(map(len, texts_of(n)))
    # the turns waited for a slot, and their metrics say how long and how often refused
    assert sum(m.throttled_seconds for m in metrics) > 0
    for m in metrics:
        assert m.throttled_seconds > 0 or not m.throttles, m
        assert m.throttled_seconds <= RETRY.max_throttle_wait
    throttled = [e for e in events if e.throttled]
    # waiting for a slot is never counted as a failed stream (a loaded machine may still
    # time out a read now and then: that is a retry, and recovers)
    assert not any("Throttling" in e.error for e in events if not e.throttled), events
    assert len(throttled) == sum(m.throttles for m in metrics)
    # the backoff waits, and the time each refused attempt itself took
    assert sum(e.delay for e in throttled) <= sum(m.throttled_seconds for m in metrics)
    assert all("ThrottlingException" in e.error for e in throttled)


# the streams held open here stay silent while the test works: a 1 s idle limit could close one
# of them first on a busy machine, so this test keeps the limit but gives them a minute
@pytest.mark.parametrize(
    "local_polly_config",
    [LocalServiceConfig(inbound_event_timeout=60.0, max_streams=LIMIT)],
    ids=["idle-limit-60s"],
)
async def test_a_stream_over_the_limit_is_refused_with_throttling(
    local_polly: LocalPollyService,
) -> None:
    client = local_polly.client(timeouts=RELAXED)
    other = local_polly.client(timeouts=RELAXED)
    try:
        held = [await c.open_stream(voice_id="Joanna") for c in (client, other)]
        with pytest.raises(ThrottlingException) as refused:
            await client.open_stream(voice_id="Joanna")
        assert refused.value.status == 400
        assert refused.value.throttling_reasons == (CONCURRENCY_REASON,)
        assert f"at most {LIMIT} synthesis streams" in str(refused.value)
        for stream in held:
            await stream.end_input()
            async for _ in stream:
                pass
            await stream.aclose()
        # the slots are free again once the streams ended (the service lets go of a stream a
        # moment after the client saw its end)
        async with asyncio.timeout(10):
            while True:
                try:
                    async for _ in client.start_speech_synthesis_stream(
                        text="Free again.", voice_id="Joanna"
                    ):
                        pass
                    break
                except ThrottlingException:
                    await asyncio.sleep(0.05)
    finally:
        await client.aclose()
        await other.aclose()


@virtual_clock
async def test_a_turn_refused_for_longer_than_its_budget_fails_naming_the_budget() -> None:
    loop = asyncio.get_running_loop()
    budget = 5.0
    config = LocalServiceConfig(
        inbound_event_timeout=1.0,
        faults=FaultPlan(rate=1.0, kinds=(Fault("throttle", "before_headers"),)),
    )
    retry = RetryPolicy(max_attempts=2, base_delay=0.05, max_delay=0.5, max_throttle_wait=budget)
    async with (
        memory_client(LocalPollyService(config), timeouts=TEST_TIMEOUTS) as client,
        SpeechSession(client, voice_id="Joanna", keepalive_interval=0.3, retry=retry) as session,
    ):
        started = loop.time()
        turn = await session.begin_turn()
        await turn.send("Nobody will hear this. ", flush=True)
        await turn.finish()
        with pytest.raises(SessionError) as failed:
            async for _ in turn.audio():
                pass
        waited = loop.time() - started
    message = str(failed.value)
    assert "max_throttle_wait" in message
    assert "ThrottlingException" in message
    # far more refusals than max_attempts, and exactly the budget spent waiting
    assert turn.metrics.throttles > retry.max_attempts
    assert budget <= turn.metrics.throttled_seconds <= waited < budget + 2.0
    assert turn.metrics.retries == 0


# -- the ledger's decisions (pure) ----------------------------------------------------------------


def test_quota_refusals_have_their_own_budget_not_max_attempts() -> None:
    ledger = TurnLedger(max_attempts=2, max_throttle_wait=1.0)
    ledger.add("Hello there. ", flush=True)
    refusal = ThrottlingException("Rate exceeded")
    for count in range(1, 6):
        failure = ledger.fail(None, refusal, 0.1)
        assert (failure.outcome, failure.throttled, failure.failures) == (
            Outcome.RESUME,
            True,
            count,
        )
        assert ledger.throttle_wait(0.15) == pytest.approx(0.15)
    assert ledger.throttle_wait(0.5) == pytest.approx(0.25)  # only what the budget has left
    assert ledger.fail(None, refusal, 0.1).outcome is Outcome.GIVE_UP
    # ordinary failures still count towards max_attempts, refusals in between or not
    other = TurnLedger(max_attempts=2)
    other.add("Hello there. ", flush=True)
    assert other.fail(None, ReadTimeout(1.0), 0.1).outcome is Outcome.RESUME
    assert other.fail(None, refusal, 0.1).outcome is Outcome.RESUME
    assert other.fail(None, ReadTimeout(1.0), 0.1).outcome is Outcome.GIVE_UP


@pytest.mark.parametrize(
    ("error", "waits"),
    [
        (ThrottlingException("Rate exceeded"), True),
        (ServiceQuotaExceededException("too many", quota_code="concurrent-streams"), True),
        (
            ServiceQuotaExceededException("idle", quota_code="input-stream-inbound-event-timeout"),
            False,
        ),
        (ServiceQuotaExceededException("old", quota_code="input-stream-timeout"), False),
    ],
)
def test_which_refusals_wait_for_a_slot(error: Exception, waits: bool) -> None:
    assert refused_for_quota(error) is waits


async def test_five_sessions_on_one_client_capped_at_two_all_complete(
    local_polly: LocalPollyService,
) -> None:
    transport = CountingTransport(local_polly)
    # the client's own cap, below the account's: turns queue for a slot, spares never do
    client = local_polly.client(transport=transport, max_streams=LIMIT, slot_timeout=2.0)
    events: list[StreamRetry] = []
    try:
        metrics = await asyncio.wait_for(
            asyncio.gather(*(one_turn(client, n, events) for n in range(SESSIONS))), 60
        )
    finally:
        await client.aclose()
    assert transport.peak == LIMIT
    assert client.streams_open == 0
    spoken = "".join("".join(r.spoken) for r in local_polly.streams)
    for n in range(SESSIONS):
        for text in texts_of(n):
            assert spoken.count(text) == 1, (text, spoken)
    # some turn had to wait for a slot, and its metrics show it
    assert any(m.throttled_seconds > 0 for m in metrics)
    assert all(m.retries == 0 for m in metrics)
