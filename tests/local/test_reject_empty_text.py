"""``polly-pipeline local --reject-empty-text``: the local service refuses an empty TextEvent.

It plays a service that requires at least one character per TextEvent: an empty keep-alive (or
a bare flush) ends the stream with a ValidationException naming the ``Text`` field, while a
single space still keeps an idle stream open. Exercised over real TLS with the awscrt client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable

import pytest

from polly_pipeline.cli.local import local_config
from polly_pipeline.cli.main import build_parser
from polly_pipeline.errors import ValidationException
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.events import AudioEvent, StreamClosedEvent
from tests.conftest import TEST_TIMEOUTS


async def drain(stream: AsyncIterable[object]) -> None:
    async for _ in stream:
        pass


async def collect(stream: AsyncIterable[object]) -> list[object]:
    return [event async for event in stream]


def test_the_local_command_option_reaches_the_service_config() -> None:
    parser = build_parser()
    assert local_config(parser.parse_args(["local", "--reject-empty-text"])).reject_empty_text
    assert not local_config(parser.parse_args(["local"])).reject_empty_text
    assert not LocalServiceConfig().reject_empty_text


async def test_an_empty_keep_alive_is_refused_and_a_space_is_not() -> None:
    config = LocalServiceConfig(inbound_event_timeout=1.0, reject_empty_text=True)
    async with LocalPollyService(config) as svc, svc.client(timeouts=TEST_TIMEOUTS) as client:
        async with client.open_stream(voice_id="Joanna", output_format="pcm") as stream:
            await stream.send_text("Hello. ", flush=True)
            await stream.keep_alive()
            with pytest.raises(ValidationException) as refused:
                await asyncio.wait_for(drain(stream), 10)
        assert [f.name for f in refused.value.fields] == ["Text"]
        assert refused.value.reason == "fieldValidationFailed"

        async with client.open_stream(voice_id="Joanna", output_format="pcm") as stream:
            reader = asyncio.create_task(collect(stream))
            await stream.send_text("Still here. ", flush=True)
            for _ in range(3):  # 1.5 s without text in all, longer than the inbound timeout
                await asyncio.sleep(0.5)
                await stream.send_text(" ")
            await stream.end_input()
            events = await asyncio.wait_for(reader, 10)
        assert any(isinstance(e, AudioEvent) and e.audio_chunk for e in events)
        assert isinstance(events[-1], StreamClosedEvent)
    assert [r.outcome for r in svc.streams] == ["ValidationException", "completed"]


async def test_without_the_option_an_empty_keep_alive_is_accepted() -> None:
    config = LocalServiceConfig(inbound_event_timeout=1.0)
    async with LocalPollyService(config) as svc, svc.client(timeouts=TEST_TIMEOUTS) as client:
        async with client.open_stream(voice_id="Joanna", output_format="pcm") as stream:
            await stream.send_text("Hello. ", flush=True)
            await stream.keep_alive()
            await stream.end_input()
            async with asyncio.timeout(10):
                events = [event async for event in stream]
        assert isinstance(events[-1], StreamClosedEvent)
    assert [(r.outcome, r.keep_alives) for r in svc.streams] == [("completed", 1)]
