"""A transport that records every stream's bytes, with the loop time each frame crossed.

It wraps the in-memory transport: every request frame the client sent and every response
frame it received, per stream, in order. Tests judge the session by those bytes, not by its
own counters; on the virtual clock the times are exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local.config import Fault, FaultPlan, LocalServiceConfig
from polly_pipeline.local.in_memory import MEMORY_ENDPOINT_URL, memory_transport
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.events import (
    AudioEvent,
    TextEvent,
    decode_input_event,
    decode_output_message,
)
from polly_pipeline.protocol.eventstream import EventStreamDecoder, decode_message
from polly_pipeline.transport import DuplexStream, Endpoint, Response, Timeouts
from tests.conftest import TEST_TIMEOUTS


@dataclass
class Wire:
    """One stream's frames: (loop time, bytes) each way."""

    sent: list[tuple[float, bytes]] = field(default_factory=list)
    received: list[tuple[float, bytes]] = field(default_factory=list)


class _Tap:
    def __init__(self, inner: DuplexStream, wire: Wire) -> None:
        self._inner = inner
        self._chunks = inner.__aiter__()
        self._wire = wire

    async def response(self) -> Response:
        return await self._inner.response()

    def __aiter__(self) -> _Tap:
        return self

    async def __anext__(self) -> bytes:
        chunk = await anext(self._chunks)
        self._wire.received.append((asyncio.get_running_loop().time(), chunk))
        return chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class Recording:
    """A transport over ``service``'s handler that records each stream's bytes."""

    def __init__(self, service: LocalPollyService, timeouts: Timeouts = TEST_TIMEOUTS) -> None:
        self._inner = memory_transport(service, timeouts=timeouts)
        self.wires: list[Wire] = []

    @property
    def streams_active(self) -> int:
        return self._inner.streams_active

    async def open_stream(
        self, endpoint: Endpoint, *, body: AsyncIterator[bytes] | None = None, **kwargs: Any
    ) -> _Tap:
        wire = Wire()
        self.wires.append(wire)

        async def tap(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
            async for chunk in source:
                wire.sent.append((asyncio.get_running_loop().time(), chunk))
                yield chunk

        inner = await self._inner.open_stream(
            endpoint, body=None if body is None else tap(body), **kwargs
        )
        return _Tap(inner, wire)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def timed_text_events(self) -> list[tuple[float, TextEvent]]:
        """Every TextEvent on the wire (signed envelopes opened) with the time it was sent."""
        out = []
        for wire in self.wires:
            decoder = EventStreamDecoder()
            for at, chunk in wire.sent:
                for outer in decoder.feed(chunk):
                    if outer.payload:
                        event = decode_input_event(decode_message(outer.payload))
                        if isinstance(event, TextEvent):
                            out.append((at, event))
        return sorted(out, key=lambda item: item[0])

    def text_events(self) -> list[TextEvent]:
        """Every TextEvent on the wire, all streams."""
        return [event for _, event in self.timed_text_events()]

    def first_audio_at(self) -> float:
        """The loop time the first audio byte arrived (any stream)."""
        times = []
        for wire in self.wires:
            decoder = EventStreamDecoder()
            for at, chunk in wire.received:
                messages = decoder.feed(chunk)
                if any(
                    isinstance(event := decode_output_message(m), AudioEvent) and event.audio_chunk
                    for m in messages
                ):
                    times.append(at)
                    break
        return min(times)

    def audio_by_stream(self) -> list[bytes]:
        """The audio each stream carried, in the order the streams were opened."""
        out = []
        for wire in self.wires:
            data = b"".join(chunk for _, chunk in wire.received)
            out.append(
                b"".join(
                    event.audio_chunk
                    for message in EventStreamDecoder().feed(data)
                    if isinstance(event := decode_output_message(message), AudioEvent)
                )
            )
        return out


def recording_client(
    service: LocalPollyService, timeouts: Timeouts = TEST_TIMEOUTS
) -> tuple[PollyStreamingClient, Recording]:
    """A client whose streams go through a :class:`Recording` of ``service``'s handler."""
    recording = Recording(service, timeouts)
    return client_over(service, recording, timeouts), recording


def client_over(
    service: LocalPollyService, transport: Any, timeouts: Timeouts = TEST_TIMEOUTS, **kwargs: Any
) -> PollyStreamingClient:
    """A client of ``service`` whose streams go through ``transport`` (a wrapper of its own)."""
    return PollyStreamingClient(
        region=service.region,
        endpoint_url=MEMORY_ENDPOINT_URL,
        credentials=service.credentials,
        timeouts=timeouts,
        transport=transport,
        **kwargs,
    )


def service_with_faults(*faults: Fault, **config: Any) -> LocalPollyService:
    """A local service whose first streams get ``faults``, one each, in order."""
    plan = FaultPlan()
    for fault in faults:
        plan.inject(fault)
    return LocalPollyService(LocalServiceConfig(faults=plan, **config))
