"""A conversation on one SpeechSession that outlives its temporary credentials.

The local service issues sets that expire after ``TTL`` seconds (``--credentials-ttl``); the
client refreshes them through botocore before each new stream. The session's turns are ``TTL``
apart, so every turn after the first runs after the set of the previous one expired, and the
session keeps opening streams (spares, turns) across the expiry.
"""

from __future__ import annotations

import asyncio

import pytest

from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session.events import RetryPolicy
from polly_pipeline.session.session import SpeechSession
from tests.client.counting import RELAXED
from tests.client.expiring import refreshing

pytestmark = pytest.mark.slow

TTL = 3.0
TURNS = [
    ["First turn, fresh keys. ", "It says two things. "],
    ["Second turn, after they expired. ", "Still heard. "],
    ["Third turn, again. ", "Heard as well. "],
]


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    return LocalServiceConfig(inbound_event_timeout=1.0, credentials_ttl=TTL)


async def test_a_three_turn_conversation_spanning_expiry_is_heard_in_full(
    local_polly: LocalPollyService,
) -> None:
    issued: list[str] = []
    creds = refreshing(local_polly, issued)
    client = local_polly.client(timeouts=RELAXED, credentials=creds)
    retry = RetryPolicy(max_attempts=2, base_delay=0.05, max_delay=0.2)
    try:
        async with SpeechSession(
            client, voice_id="Joanna", keepalive_interval=0.3, retry=retry
        ) as session:
            for n, texts in enumerate(TURNS):
                if n:
                    await asyncio.sleep(TTL)  # the set the last turn used has expired
                turn = await session.begin_turn()
                for i, text in enumerate(texts):
                    await turn.send(text, flush=i == 0)
                await turn.finish()
                seconds = sum([chunk.seconds async for chunk in turn.audio()])
                assert seconds > 1.0, f"turn {n} got {seconds:.2f}s of audio"
                assert turn.metrics.retries == 0
                assert turn.metrics.characters_billed == sum(map(len, texts))
    finally:
        await client.aclose()
    spoken = "".join("".join(r.spoken) for r in local_polly.streams)
    for texts in TURNS:
        for text in texts:
            assert spoken.count(text) == 1, (text, spoken)
    assert local_polly.refused_requests == []  # no stream was ever opened with expired keys
    assert len(set(issued)) >= 2  # the sets were refreshed on the way
