"""Shared fixtures: a scaled-down local Polly service and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.transport import Timeouts

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
