"""Every fault the local service injects ends in a specific error within its deadline, no hang.

The client runs in the test's event loop; the service on its own thread (the ``local_polly``
fixture), as a real remote service would. Deadlines come from ``TEST_TIMEOUTS`` (2 s).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import (
    ConnectionClosedError,
    NetworkTimeout,
    ServiceFailureException,
    ServiceQuotaExceededException,
    StreamResetError,
    ThrottlingException,
    TransportError,
)
from polly_pipeline.local.config import Fault, LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.events import AudioEvent, StreamClosedEvent
from tests.conftest import TEST_TIMEOUTS

TEXT = ("First sentence here. ", "Second sentence follows. ", "And a third one.")

# the deadline that bounds each stall, plus scheduling slack
STALL_LIMIT = TEST_TIMEOUTS.read + 2.0
QUICK_LIMIT = 2.0


def expected(kind: str, at: str) -> tuple[type[BaseException], float]:
    """The error a fault must surface as, and how long it may take."""
    if kind == "reset":
        return StreamResetError, QUICK_LIMIT
    if kind in ("goaway", "drop"):
        return ConnectionClosedError, QUICK_LIMIT
    if kind == "stall":
        return NetworkTimeout, STALL_LIMIT
    if kind == "throttle":
        return ThrottlingException, QUICK_LIMIT
    return ServiceFailureException, QUICK_LIMIT


async def speak(client: PollyStreamingClient) -> list[object]:
    async with client.open_stream(voice_id="Joanna", output_format="pcm") as stream:
        for part in TEXT:
            await stream.send_text(part)
        await stream.end_input()
        return [event async for event in stream]


@pytest.mark.parametrize("at", ["before_headers", "first_event", "mid_stream", "on_close"])
@pytest.mark.parametrize(
    "kind", ["reset", "goaway", "drop", "stall", "throttle", "service_failure"]
)
async def test_fault_ends_in_its_error_and_the_client_recovers(
    kind: str, at: str, polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    error, limit = expected(kind, at)
    local_polly.inject(Fault(kind, at))  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(error) as exc:
        await speak(polly)
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"{kind}@{at} took {elapsed:.2f}s"
    if kind == "reset":
        assert exc.value.before_headers is (at == "before_headers")  # type: ignore[attr-defined]
    if kind == "stall":
        phase = "response_headers" if at == "before_headers" else "read"
        assert exc.value.phase == phase  # type: ignore[attr-defined]
    if kind == "throttle":
        assert exc.value.throttling_reasons  # type: ignore[attr-defined]
    assert local_polly.streams[-1].outcome.startswith("fault:")

    # the same client goes on working: nothing half-open is reused
    events = await asyncio.wait_for(speak(polly), 10)
    assert isinstance(events[-1], StreamClosedEvent)
    assert sum(len(e.audio_chunk) for e in events if isinstance(e, AudioEvent)) > 16000


async def test_no_task_or_connection_is_left_behind_after_faults(
    local_polly: LocalPollyService,
) -> None:
    before = asyncio.all_tasks()
    async with local_polly.client(timeouts=TEST_TIMEOUTS) as client:
        for kind in ("reset", "drop", "goaway", "throttle"):
            local_polly.inject(Fault(kind, "mid_stream"))  # type: ignore[arg-type]
            with pytest.raises((TransportError, ThrottlingException)):
                await speak(client)
        await speak(client)
    await asyncio.sleep(0.1)
    assert asyncio.all_tasks() - before == set()
    assert client.pool.stats().connections_open == 0
    deadline = time.monotonic() + 3
    while local_polly.server.active_connections and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # the server runs on another thread: poll its counter
    assert local_polly.server.active_connections == 0


async def test_stream_duration_limit_is_a_quota_error(tmp_path: object) -> None:
    config = LocalServiceConfig(max_stream_duration=1.0, inbound_event_timeout=5.0)
    async with (
        LocalPollyService(config) as service,
        service.client(timeouts=TEST_TIMEOUTS) as client,
    ):
        started = time.monotonic()
        async with client.open_stream(voice_id="Joanna") as stream:
            await stream.send_text("Hello.")
            with pytest.raises(ServiceQuotaExceededException) as exc:  # noqa: PT012
                async for _ in stream:
                    await stream.keep_alive()
        assert exc.value.quota_code == "input-stream-timeout"
        assert exc.value.service_code == "polly"
        assert time.monotonic() - started < 3.0


async def test_more_streams_than_one_connection_allows(tmp_path: object) -> None:
    config = LocalServiceConfig(max_concurrent_streams=1)
    async with (
        LocalPollyService(config) as service,
        service.client(timeouts=TEST_TIMEOUTS) as client,
    ):
        results = await asyncio.wait_for(asyncio.gather(*(speak(client) for _ in range(3))), 20)
        assert all(isinstance(r[-1], StreamClosedEvent) for r in results)
        assert client.pool.stats().connections_created == 3


async def test_random_faults_at_a_low_rate_lose_no_completed_stream() -> None:
    from polly_pipeline.local.config import FaultPlan

    kinds = tuple(Fault(k, "mid_stream") for k in ("reset", "drop", "throttle", "service_failure"))
    config = LocalServiceConfig(faults=FaultPlan(rate=0.3, kinds=kinds, seed=7))
    ok = failed = 0
    async with (
        LocalPollyService(config) as service,
        service.client(timeouts=TEST_TIMEOUTS) as client,
    ):
        for _ in range(12):
            try:
                events = await speak(client)
            except (TransportError, ThrottlingException, ServiceFailureException):
                failed += 1
            else:
                assert isinstance(events[-1], StreamClosedEvent)
                ok += 1
        assert failed == len(config.faults.injected)
    assert ok + failed == 12
    assert failed > 0
