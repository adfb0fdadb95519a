"""The session's promises, checked on the bytes that crossed the transport.

A recording transport wraps the in-memory one: every request frame the client sent and every
response frame it received, per stream, in order. The tests judge the session by those bytes,
not by its own counters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local.config import LatencyModel, LocalServiceConfig
from polly_pipeline.local.in_memory import InMemoryTransport
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.events import (
    AudioEvent,
    TextEvent,
    decode_input_event,
    decode_output_message,
)
from polly_pipeline.protocol.eventstream import EventStreamDecoder, decode_message
from polly_pipeline.session import RetryPolicy, SpeechSession
from polly_pipeline.transport import DuplexStream, Endpoint, Response
from tests.conftest import TEST_TIMEOUTS


class _Tap:
    def __init__(self, inner: DuplexStream, received: list[bytes]) -> None:
        self._inner = inner
        self._chunks = inner.__aiter__()
        self._received = received

    async def response(self) -> Response:
        return await self._inner.response()

    def __aiter__(self) -> _Tap:
        return self

    async def __anext__(self) -> bytes:
        chunk = await anext(self._chunks)
        self._received.append(chunk)
        return chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class Recording:
    """A transport that records each stream's request and response bytes."""

    def __init__(self, inner: InMemoryTransport) -> None:
        self._inner = inner
        self.sent: list[list[bytes]] = []
        self.received: list[list[bytes]] = []

    async def open_stream(
        self,
        endpoint: Endpoint,
        *,
        body: AsyncIterator[bytes] | None = None,
        **kwargs: Any,
    ) -> _Tap:
        sent: list[bytes] = []
        received: list[bytes] = []
        self.sent.append(sent)
        self.received.append(received)

        async def tap(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
            async for chunk in source:
                sent.append(chunk)
                yield chunk

        inner = await self._inner.open_stream(
            endpoint, body=None if body is None else tap(body), **kwargs
        )
        return _Tap(inner, received)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def text_events(self) -> list[TextEvent]:
        """Every TextEvent on the wire (signed envelopes opened), all streams."""
        out = []
        for frames in self.sent:
            for outer in EventStreamDecoder().feed(b"".join(frames)):
                if outer.payload:
                    event = decode_input_event(decode_message(outer.payload))
                    if isinstance(event, TextEvent):
                        out.append(event)
        return out

    def audio_by_stream(self) -> list[bytes]:
        """The audio each stream carried, in the order the streams were opened."""
        out = []
        for chunks in self.received:
            audio = b"".join(
                event.audio_chunk
                for message in EventStreamDecoder().feed(b"".join(chunks))
                if isinstance(event := decode_output_message(message), AudioEvent)
            )
            out.append(audio)
        return out


def recording_client(service: LocalPollyService) -> tuple[PollyStreamingClient, Recording]:
    recording = Recording(InMemoryTransport(service._handle, timeouts=TEST_TIMEOUTS))
    client = PollyStreamingClient(
        region=service.region,
        endpoint_url="https://polly.in-memory",
        credentials=service.credentials,
        timeouts=TEST_TIMEOUTS,
        transport=recording,
    )
    return client, recording


async def speak(session: SpeechSession, texts: Sequence[str], gap: float = 0.0) -> bytes:
    turn = await session.begin_turn()

    async def feed() -> None:
        for i, text in enumerate(texts):
            await turn.send(text, flush=i == 0)
            await asyncio.sleep(gap)
        await turn.finish()

    feeder = asyncio.create_task(feed())
    audio = b"".join([chunk.data async for chunk in turn.audio()])
    await feeder
    return audio


async def test_keep_alives_are_empty_on_the_wire() -> None:
    service = LocalPollyService(LocalServiceConfig(inbound_event_timeout=1.0))
    client, recording = recording_client(service)
    async with client, SpeechSession(client, voice_id="Joanna", keepalive_interval=0.2) as session:
        await asyncio.sleep(0.9)  # idle: only keep-alives flow on the warm stream
        assert await speak(session, ["Hello after a pause. "])
    keep_alives = [e for e in recording.text_events() if not e.text.strip() and not e.flush]
    assert len(keep_alives) >= 3
    # not a space: a space between two halves of a word would split the word
    assert [e.text for e in keep_alives] == [""] * len(keep_alives)


async def test_rollover_under_service_latency_keeps_the_old_streams_audio_first() -> None:
    config = LocalServiceConfig(
        inbound_event_timeout=1.0,
        max_stream_duration=30.0,
        latency=LatencyModel(first_audio=0.05, real_time_factor=0.25),
    )
    service = LocalPollyService(config)
    client, recording = recording_client(service)
    texts = [f"Sentence {i} is spoken across a rollover. " for i in range(6)]
    async with (
        client,
        SpeechSession(
            client,
            voice_id="Joanna",
            keepalive_interval=0.3,
            max_stream_age=0.6,
            retry=RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2),
        ) as session,
    ):
        delivered = await speak(session, texts, gap=0.15)
        assert session.turns[-1].rollovers >= 1
        assert session.turns[-1].retries == 0
    streams = [audio for audio in recording.audio_by_stream() if audio]
    assert len(streams) >= 2  # the turn's audio came over more than one stream
    # stream by stream: nothing of a later stream before all of the earlier one
    assert delivered == b"".join(streams)
