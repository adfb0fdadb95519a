"""Fixtures: a client for the real local Polly service (the ``local_polly`` fixture comes with
polly-pipeline), sessions that keep streams alive, and token sources paced like a model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session import SpeechSession
from polly_pipeline.transport import Timeouts

AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_POLLY",
    "AWS_CA_BUNDLE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's AWS configuration (the example would use it)."""
    for var in AWS_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
async def polly(local_polly: LocalPollyService) -> AsyncIterator[PollyStreamingClient]:
    """A client pointed at the local service, closed after the test."""
    timeouts = Timeouts(connect=3.0, response_headers=3.0, read=3.0, write=3.0, close=1.0)
    client = local_polly.client(timeouts=timeouts)
    try:
        yield client
    finally:
        await client.aclose()


def session_for(client: PollyStreamingClient, **kw: object) -> SpeechSession:
    """A session whose keep-alives keep idle test streams open."""
    return SpeechSession(client, voice_id="Joanna", keepalive_interval=0.3, **kw)  # type: ignore[arg-type]


async def tokens(
    text: str, *, gap: float = 0.005, stall_at: str | None = None, stall: float = 0.0
) -> AsyncIterator[str]:
    """Yield ``text`` in 1-4 character pieces like a model; optionally stall before a phrase."""
    stall_index = text.index(stall_at) if stall_at is not None else -1
    i = 0
    sizes = [1, 3, 2, 4]
    while i < len(text):
        n = sizes[i % 4]
        if i <= stall_index < i + n:
            await asyncio.sleep(stall)
        yield text[i : i + n]
        i += n
        await asyncio.sleep(gap)
