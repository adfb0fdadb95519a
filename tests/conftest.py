"""Shared fixtures: a scaled-down local Polly service and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, settings

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.transport import Timeouts

# Property tests judge behaviour, never speed: no per-example deadline and no "too slow" health
# check, which fail on a loaded machine (four workers, other builds) for reasons the code under
# test has nothing to do with. Speed is the benchmarks' business (benchmarks/).
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

#: Short deadlines so a fault surfaces in well under a second or two.
TEST_TIMEOUTS = Timeouts(connect=3.0, response_headers=2.0, read=2.0, write=2.0, close=1.0)


@pytest.fixture(autouse=True)
def _isolated(no_ambient_aws: None) -> None:
    """Tests never see the developer's AWS configuration or reach instance metadata."""


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    """Polly's limits scaled down so timeout tests run in about a second."""
    return LocalServiceConfig(inbound_event_timeout=1.0, max_stream_duration=30.0)


@pytest.fixture
async def polly(local_polly: LocalPollyService) -> AsyncIterator[PollyStreamingClient]:
    """A client pointed at the local service, closed after the test."""
    client = local_polly.client(timeouts=TEST_TIMEOUTS)
    try:
        yield client
    finally:
        await client.aclose()
