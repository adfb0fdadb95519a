"""Fixtures: a client for the real local Polly service (the ``local_polly`` fixture comes with
polly-pipeline), sessions that keep streams alive, and token sources paced like a model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local import LocalPollyService
from polly_pipeline.session import SpeechSession
from polly_pipeline.transport import Timeouts


@pytest.fixture(autouse=True)
def _isolated(no_ambient_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's AWS or OpenAI configuration (the example would use it)."""
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
