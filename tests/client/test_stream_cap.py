"""``PollyStreamingClient(max_streams=N)``: at most N streams at once, each slot held for a
stream's life and given back on every way out.

The concurrency is counted where the streams really go: a transport wrapped around the real
awscrt pool to the local service over TLS counts the exchanges the client has open.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import (
    ConfigurationError,
    StreamLimitError,
    ThrottlingException,
    TransportError,
)
from polly_pipeline.local.config import Fault
from polly_pipeline.local.service import LocalPollyService
from tests.client.counting import RELAXED, CountingTransport


def capped(service: LocalPollyService, n: int, **kw: Any) -> tuple[PollyStreamingClient, Any]:
    transport = CountingTransport(service)
    client = service.client(transport=transport, max_streams=n, timeouts=RELAXED, **kw)
    return client, transport


async def speak(client: PollyStreamingClient, text: str) -> bytes:
    out = bytearray()
    async for chunk in client.start_speech_synthesis_stream(text=text, voice_id="Joanna"):
        out += chunk
    return bytes(out)


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "2"])
def test_max_streams_must_be_a_whole_number_of_at_least_one(value: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"max_streams must be a whole number >= 1"):
        PollyStreamingClient(region="us-east-1", max_streams=value)


@pytest.mark.parametrize("value", [0, -1.0, True, "5"])
def test_slot_timeout_must_be_positive_seconds(value: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"slot_timeout must be seconds > 0"):
        PollyStreamingClient(region="us-east-1", max_streams=2, slot_timeout=value)


async def test_five_streams_on_a_client_capped_at_two_run_two_at_a_time(
    local_polly: LocalPollyService,
) -> None:
    client, transport = capped(local_polly, 2)
    assert client.max_streams == 2
    texts = [f"Capped stream number {n} speaks." for n in range(5)]
    try:
        audio = await asyncio.wait_for(asyncio.gather(*(speak(client, t) for t in texts)), 60)
    finally:
        await client.aclose()
    assert all(audio)
    assert transport.peak == 2  # two at once, never more
    assert transport.open == 0
    assert client.streams_open == 0  # every slot came back
    assert sorted("".join(r.spoken) for r in local_polly.streams) == sorted(texts)


async def test_a_wait_for_a_slot_has_a_deadline_and_names_the_cap(
    local_polly: LocalPollyService,
) -> None:
    client, _ = capped(local_polly, 1, slot_timeout=0.5)
    try:
        held = await client.open_stream(voice_id="Joanna")
        with pytest.raises(StreamLimitError) as waited:
            await client.open_stream(voice_id="Joanna")
        assert "max_streams=1" in str(waited.value)
        assert "slot_timeout" in str(waited.value)
        with pytest.raises(StreamLimitError, match="no slot is free"):
            await client.open_stream(voice_id="Joanna", wait_for_slot=False)
        await held.aclose()  # abandoned mid-stream: its slot comes back all the same
        assert client.streams_open == 0
        assert await speak(client, "The slot came back.")
    finally:
        await client.aclose()


async def test_every_way_out_gives_the_slot_back(local_polly: LocalPollyService) -> None:
    client, transport = capped(local_polly, 1, slot_timeout=5.0)
    try:
        # refused by the service
        local_polly.inject(Fault("throttle", "before_headers"))
        with pytest.raises(ThrottlingException):
            await speak(client, "Refused.")
        assert client.streams_open == 0
        # failed mid-stream
        local_polly.inject(Fault("reset", "first_event"))
        with pytest.raises(TransportError):
            await speak(client, "Reset.")
        assert client.streams_open == 0
        # the caller stopped reading early
        chunks = client.start_speech_synthesis_stream(
            text="A long sentence the caller stops listening to. " * 4, voice_id="Joanna"
        )
        await anext(chunks)
        await chunks.aclose()  # type: ignore[attr-defined]
        assert client.streams_open == 0
        # cancelled while waiting for a slot
        held = await client.open_stream(voice_id="Joanna")
        waiting = asyncio.create_task(speak(client, "Never started."))
        await asyncio.sleep(0.2)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await held.aclose()
        assert client.streams_open == 0
        assert await speak(client, "Still one slot, and it is free.")
        assert transport.peak == 1
    finally:
        await client.aclose()
