"""Every fault the local service injects, at every point, against a SpeechSession turn.

Each cell must end in complete audio with no segment lost (checked against what the service
actually finished speaking): two faults against four attempts always recover. The whole matrix
runs on the in-memory transport and the virtual clock (a stall costs its read deadline in
virtual time only); one cell per fault kind runs end to end over TLS, where no task, no pool
connection and no file descriptor may be left behind. Polly's limits are scaled down (1 s
idle, 3 s stream life).
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from polly_pipeline.audio import AudioChunk
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import SessionError
from polly_pipeline.local.config import Fault, FaultPlan, LocalServiceConfig
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session.events import RetryPolicy, StreamRetry
from polly_pipeline.session.session import SpeechSession
from polly_pipeline.testing import virtual_clock
from tests.conftest import TEST_TIMEOUTS

KINDS = ("reset", "goaway", "drop", "stall", "throttle", "service_failure")
POINTS = ("before_headers", "first_event", "mid_stream", "on_close", "keep_alive")
TEXTS = [f"Matrix sentence number {i} is spoken here. " for i in range(4)]
RETRY = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2)
#: a stall costs one read deadline per faulted stream; everything else must be quick
CELL_LIMIT = 2 * (TEST_TIMEOUTS.read + TEST_TIMEOUTS.response_headers) + 4.0


def scaled_config() -> LocalServiceConfig:
    return LocalServiceConfig(inbound_event_timeout=1.0, max_stream_duration=3.0)


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    return scaled_config()


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def settle_fds(baseline: set[str], deadline: float = 2.0) -> set[str]:
    """File descriptors opened since ``baseline`` that are still open after a short wait."""
    end = time.monotonic() + deadline
    while True:
        extra = open_fds() - baseline
        if not extra or time.monotonic() > end:
            return extra
        await asyncio.sleep(0.05)


async def run_turn(session: SpeechSession) -> list[AudioChunk]:
    turn = await session.begin_turn()

    async def feed() -> None:
        for i, text in enumerate(TEXTS):
            await turn.send(text, flush=i == 0)
        await turn.finish()

    feeder = asyncio.create_task(feed())
    try:
        return [chunk async for chunk in turn.audio()]
    finally:
        await asyncio.gather(feeder, return_exceptions=True)


async def faulted_turn(
    svc: LocalPollyService, client: PollyStreamingClient, kind: str, at: str
) -> SpeechSession:
    """One turn of TEXTS with ``kind`` injected at ``at``; checks what the listener got."""
    loop = asyncio.get_running_loop()
    tasks_before = asyncio.all_tasks()
    session = SpeechSession(client, voice_id="Joanna", keepalive_interval=0.3, retry=RETRY, seed=7)
    started = loop.time()
    chunks: list[AudioChunk] = []
    try:
        if at == "keep_alive":
            # the warm spare's first inbound event is a keep-alive: the fault lands on it
            svc.inject(Fault(kind, "first_event"))  # type: ignore[arg-type]
            await session.start()
            await asyncio.sleep(0.8)  # past the keep-alive interval, idle
        else:
            # the session is cold: the turn's stream and the spare open together, both faulted
            svc.inject(Fault(kind, at), times=2)  # type: ignore[arg-type]
        chunks = await asyncio.wait_for(run_turn(session), CELL_LIMIT)
    finally:
        await session.aclose()
    elapsed = loop.time() - started

    assert svc.config.faults.injected, "no fault was injected"
    assert any(r.outcome.startswith("fault:") for r in svc.streams), [
        r.outcome for r in svc.streams
    ]
    assert elapsed < CELL_LIMIT, f"{kind}@{at} took {elapsed:.1f}s"
    if at == "keep_alive":  # the fault hit the idle spare, which had carried no text
        faulted = next(r for r in svc.streams if r.fault is not None)
        assert faulted.texts == []
        assert faulted.outcome.startswith("fault:")
    # two faults against four attempts: the turn must always recover, never give up
    assert chunks, f"{kind}@{at}: no audio"
    assert sum(c.seconds for c in chunks) > 1.0
    spoken = "".join("".join(r.spoken) for r in svc.streams)
    for text in TEXTS:
        assert text in spoken, (kind, at, text)
    # no more retries than the faults injected could cause
    retries = [e for e in session.history if isinstance(e, StreamRetry)]
    assert len(retries) <= 2
    await asyncio.sleep(0.05)
    leaked = {t for t in asyncio.all_tasks() - tasks_before if not t.done()}
    assert leaked == set(), leaked
    return session


@pytest.mark.parametrize("at", POINTS)
@pytest.mark.parametrize("kind", KINDS)
@virtual_clock
async def test_a_fault_loses_no_segment(kind: str, at: str) -> None:
    svc = LocalPollyService(scaled_config())
    async with memory_client(svc, timeouts=TEST_TIMEOUTS) as client:
        await faulted_turn(svc, client, kind, at)
        assert client.transport.streams_active == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_fault_over_tls_loses_no_segment_and_leaks_nothing(
    kind: str, local_polly: LocalPollyService
) -> None:
    # awscrt's process-wide event loop (epoll, eventfd, timerfd, urandom) opens on first use
    # and lives on: warm it up so the baseline holds it
    async with local_polly.client(timeouts=TEST_TIMEOUTS) as warm:
        async for _ in warm.start_speech_synthesis_stream(text="Warm.", voice_id="Joanna"):
            pass
    assert await settle_fds(open_fds(), 0.0) == set()
    fds_before = open_fds()
    client = local_polly.client(timeouts=TEST_TIMEOUTS)
    try:
        await faulted_turn(local_polly, client, kind, "mid_stream")
    finally:
        await client.aclose()
    assert client.pool.stats().connections_open == 0
    assert await settle_fds(fds_before) == set()


async def gives_up(client: PollyStreamingClient, because: str = "3 times in a row") -> None:
    loop = asyncio.get_running_loop()
    tasks_before = asyncio.all_tasks()
    session = SpeechSession(
        client,
        voice_id="Joanna",
        keepalive_interval=0.3,
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_throttle_wait=1.0),
    )
    started = loop.time()
    try:
        with pytest.raises(SessionError) as exc:
            await asyncio.wait_for(run_turn(session), CELL_LIMIT)
    finally:
        await session.aclose()
    assert loop.time() - started < 5.0
    assert because in str(exc.value)
    await asyncio.sleep(0.05)
    assert {t for t in asyncio.all_tasks() - tasks_before if not t.done()} == set()


@pytest.mark.parametrize("kind", ["reset", "goaway", "drop", "throttle", "service_failure"])
@virtual_clock
async def test_a_fault_on_every_stream_ends_in_a_session_error_in_time(kind: str) -> None:
    config = scaled_config()
    config.faults = FaultPlan(rate=1.0, kinds=(Fault(kind, "first_event"),))  # type: ignore[arg-type]
    async with memory_client(LocalPollyService(config), timeouts=TEST_TIMEOUTS) as client:
        # throttling is waited out for RetryPolicy.max_throttle_wait, other faults retried
        await gives_up(client, "max_throttle_wait" if kind == "throttle" else "3 times in a row")
        assert client.transport.streams_active == 0  # type: ignore[attr-defined]


async def test_a_fault_on_every_stream_over_tls_ends_in_a_session_error(
    local_polly: LocalPollyService,
) -> None:
    local_polly.config.faults = FaultPlan(rate=1.0, kinds=(Fault("reset", "first_event"),))
    client = local_polly.client(timeouts=TEST_TIMEOUTS)
    try:
        await gives_up(client)
    finally:
        await client.aclose()
    assert client.pool.stats().connections_open == 0
