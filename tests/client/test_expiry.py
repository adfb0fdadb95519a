"""Temporary credentials that expire during a conversation are refreshed before the next stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.client.refreshable import RefreshingCredentials
from polly_pipeline.errors import CredentialsError, ServiceException
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.credentials import Credentials
from tests.client.expiring import refreshing
from tests.conftest import TEST_TIMEOUTS

TTL = 3.0
TURNS = ["First turn, fresh keys.", "Second turn, after they expired.", "Third turn, again."]


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    return LocalServiceConfig(inbound_event_timeout=1.0, credentials_ttl=TTL)


async def speak(client: PollyStreamingClient, text: str) -> bytes:
    out = bytearray()
    async for chunk in client.start_speech_synthesis_stream(
        text=text, voice_id="Joanna", output_format="pcm", sample_rate=16000
    ):
        out += chunk
    return bytes(out)


async def test_a_conversation_spanning_expiry_completes(local_polly: LocalPollyService) -> None:
    issued: list[str] = []
    creds = refreshing(local_polly, issued)
    client = local_polly.client(timeouts=TEST_TIMEOUTS, credentials=creds)
    try:
        for n, text in enumerate(TURNS):
            if n:
                await asyncio.sleep(TTL)  # the set the last turn used has expired
            assert await speak(client, text)
        assert ["".join(r.texts) for r in local_polly.streams] == TURNS
        assert local_polly.refused_requests == []  # never a stream with expired keys
        assert len(set(issued)) >= 3
    finally:
        await client.aclose()


async def test_an_expired_set_is_refused_with_aws_error(local_polly: LocalPollyService) -> None:
    document = local_polly.issue_credentials()
    fixed = Credentials(
        document["AccessKeyId"], document["SecretAccessKey"], document["SessionToken"]
    )
    client = local_polly.client(timeouts=TEST_TIMEOUTS, credentials=fixed)
    try:
        assert await speak(client, TURNS[0])
        await asyncio.sleep(TTL + 0.5)
        with pytest.raises(ServiceException) as caught:
            await speak(client, TURNS[1])
        assert caught.value.error_code == "ExpiredTokenException"
        assert caught.value.status == 403
        assert "security token included in the request is expired" in str(caught.value)
        assert local_polly.refused_requests == ["ExpiredTokenException"]
    finally:
        await client.aclose()


async def test_an_expired_set_that_cannot_be_refreshed_names_the_credentials(
    local_polly: LocalPollyService,
) -> None:
    document = local_polly.issue_credentials()
    calls = 0

    def fetch() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OSError("the credential source is gone")
        return document

    creds = RefreshingCredentials(fetch, advisory_timeout=1.5, mandatory_timeout=1.0)
    client = local_polly.client(timeouts=TEST_TIMEOUTS, credentials=creds)
    try:
        await asyncio.sleep(TTL)
        with pytest.raises(CredentialsError) as caught:
            await speak(client, TURNS[0])
        message = str(caught.value)
        assert document["AccessKeyId"][:4] in message
        assert "could not be refreshed" in message
        assert document["AccessKeyId"] not in message
        assert document["SecretAccessKey"] not in message
        assert document["SessionToken"] not in message
        assert local_polly.streams == type(local_polly.streams)()
    finally:
        await client.aclose()
