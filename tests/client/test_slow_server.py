"""A server that trickles a valid stream must not hold the client or a session turn.

The server answers 200 at once, then sends a well-formed AudioEvent frame one byte at a time,
each byte well inside the read deadline, so a deadline on silence alone never fires.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import NetworkTimeout, SessionError
from polly_pipeline.local.http import Request, RequestBody, Responder
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.events import AudioEvent, encode_output_event
from polly_pipeline.session import RetryPolicy, SpeechSession
from polly_pipeline.transport import Timeouts
from tests.client.serving import client_of

READ = 0.6
TIMEOUTS = Timeouts(connect=2.0, response_headers=1.0, read=READ, write=1.0, close=0.5)
#: one byte per this many seconds: far inside the read deadline
BYTE_EVERY = 0.05
CREDENTIALS = Credentials("AKIDTRICKLE", "secret-trickle")


async def trickle(request: Request, body: RequestBody, responder: Responder) -> None:
    """Answer 200 and send a valid AudioEvent one byte at a time, forever."""

    async def drain() -> None:
        async for _ in body:
            pass

    reader = asyncio.create_task(drain())
    try:
        await responder.send_headers(200, [("content-type", "application/vnd.amazon.eventstream")])
        frame = encode_output_event(AudioEvent(b"\x00" * 50_000))
        for i in range(len(frame)):
            await responder.send_data(frame[i : i + 1])
            await asyncio.sleep(BYTE_EVERY)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


@pytest.fixture
async def trickling_client(tmp_path: Path) -> AsyncIterator[PollyStreamingClient]:
    async with client_of(trickle, tmp_path, timeouts=TIMEOUTS, credentials=CREDENTIALS) as client:
        yield client


async def test_a_trickling_stream_times_out_within_the_read_deadline(
    trickling_client: PollyStreamingClient,
) -> None:
    async with trickling_client.open_stream(voice_id="Joanna", output_format="pcm") as stream:
        await stream.send_text("Hello there.", flush=True)
        started = time.monotonic()
        with pytest.raises(NetworkTimeout) as caught:
            await asyncio.wait_for(anext(stream.__aiter__()), 10 * READ)
        elapsed = time.monotonic() - started
    assert caught.value.phase == "read"
    assert "no complete event" in str(caught.value)
    assert elapsed < READ + 1.0


async def test_a_session_turn_on_a_trickling_server_gives_up_in_time(
    trickling_client: PollyStreamingClient,
) -> None:
    retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02)
    async with SpeechSession(
        trickling_client, voice_id="Joanna", keepalive_interval=0.3, retry=retry
    ) as session:
        turn = await session.begin_turn()
        await turn.send("Nobody will hear this. ", flush=True)
        await turn.finish()
        started = time.monotonic()
        with pytest.raises(SessionError) as caught:
            await asyncio.wait_for(anext(turn.audio()), 10 * READ * retry.max_attempts)
        elapsed = time.monotonic() - started
    assert "2 times in a row" in str(caught.value)
    assert isinstance(caught.value.__cause__, NetworkTimeout)
    assert elapsed < retry.max_attempts * (READ + 1.0)
