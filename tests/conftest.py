"""Shared fixtures: a scaled-down local Polly service and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.transport import Timeouts

#: Short deadlines so a fault surfaces in well under a second or two.
TEST_TIMEOUTS = Timeouts(connect=3.0, response_headers=2.0, read=2.0, write=2.0, close=1.0)


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's AWS configuration or reach instance metadata."""
    for var in (
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_POLLY",
        "AWS_CA_BUNDLE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


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
