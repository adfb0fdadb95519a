"""A session closed while it is still opening a stream leaves no stream open.

``SpeechSession.start()`` opens the first spare; when ``aclose()`` runs while that open is in
flight, the stream that arrives afterwards belongs to a closed session. It must be closed, or
it keeps its HTTP/2 stream and its slot of the client's ``max_streams`` for good (a client
shared by many sessions runs out of slots).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from polly_pipeline.errors import StreamStateError
from polly_pipeline.local.in_memory import memory_transport
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session import SpeechSession
from polly_pipeline.testing import virtual_clock
from polly_pipeline.transport import DuplexStream, Endpoint
from tests.conftest import TEST_TIMEOUTS
from tests.session.recording import client_over


class GatedTransport:
    """The in-memory transport, whose ``open_stream`` waits until ``gate`` is set."""

    def __init__(self, service: LocalPollyService) -> None:
        self._inner = memory_transport(service, timeouts=TEST_TIMEOUTS)
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def open_stream(self, endpoint: Endpoint, **kwargs: Any) -> DuplexStream:
        self.waiting.set()
        await self.gate.wait()
        return await self._inner.open_stream(endpoint, **kwargs)

    async def aclose(self) -> None:
        await self._inner.aclose()


@virtual_clock
async def test_a_stream_that_opens_after_the_session_closed_is_closed() -> None:
    service = LocalPollyService()
    transport = GatedTransport(service)
    client = client_over(service, transport, max_streams=1)
    async with client:
        session = SpeechSession(client, voice_id="Joanna")
        starting = asyncio.create_task(session.start())
        await transport.waiting.wait()  # the first spare is being opened...
        await session.aclose()  # ...when the session closes
        transport.gate.set()
        with pytest.raises(StreamStateError, match="closed"):
            await starting
        assert client.streams_open == 0, "the late stream kept its slot"
