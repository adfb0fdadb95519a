"""A conversation's tasks end with it: nothing it started is left pending when a client leaves."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from polly_pipeline.client import PollyStreamingClient
from tests.gateway.client import SpeakClient
from tests.gateway.conftest import Gateway

SPEAKING = "The first answer is long enough to be still speaking when its listener leaves. " * 8


async def _left_behind(before: set[asyncio.Task[object]], within: float) -> list[str]:
    """Tasks started since ``before`` still pending after ``within`` seconds (their names)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
        if not pending or asyncio.get_running_loop().time() > deadline:
            return sorted(t.get_name() for t in pending)
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("messages", "after_first_audio"),
    [
        # mid-turn, a second turn waiting behind it with its sentence unfinished (stall armed)
        ([{"text": SPEAKING}, {"type": "end"}], [{"text": "And a second question, unfini"}]),
        # a turn whose held text the stall flush spoke
        ([{"text": "Let me look that up"}], []),
    ],
    ids=["mid-turn-with-a-turn-waiting", "after-a-stall-flush"],
)
async def test_a_client_leaving_leaves_no_task_of_its_conversation(
    gateway: Gateway,
    polly: PollyStreamingClient,
    messages: list[dict[str, str]],
    after_first_audio: list[dict[str, str]],
) -> None:
    before = asyncio.all_tasks()
    async with connect(gateway.speak_url) as ws:
        speak = SpeakClient(ws)
        assert (await speak.start(voice="Joanna"))["type"] == "ready"
        for message in messages:
            await speak.send(**message)
        first = await speak.until("first_audio", within=20)
        assert first.of("segment"), first.events
        for message in after_first_audio:
            await speak.send(**message)
        await asyncio.sleep(0.2)
        assert gateway.app.state.conversations == 1
        assert polly.pool.stats().streams_active >= 1
    assert await _left_behind(before, within=10.0) == []
    assert gateway.app.state.conversations == 0
    assert polly.pool.stats().streams_active == 0
