"""The client over an injected transport: the in-memory one wired to the local service."""

from __future__ import annotations

import asyncio

import pytest

from polly_pipeline.audio import decode_audio, duration_seconds
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import (
    ConfigurationError,
    ConnectionClosedError,
    StreamResetError,
    ThrottlingException,
    UnmodeledServiceError,
)
from polly_pipeline.local.config import Fault, LocalServiceConfig
from polly_pipeline.local.in_memory import InMemoryTransport, memory_client
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.events import StreamClosedEvent
from polly_pipeline.testing import virtual_clock
from tests.client.counting import RELAXED
from tests.conftest import TEST_TIMEOUTS


def unstarted_service() -> LocalPollyService:
    return LocalPollyService(LocalServiceConfig(inbound_event_timeout=1.0))


async def speak(client: PollyStreamingClient, text: str) -> bytes:
    chunks = [c async for c in client.start_speech_synthesis_stream(text=text, voice_id="Joanna")]
    return b"".join(chunks)


async def test_real_audio_through_the_services_handler_without_a_socket() -> None:
    service = unstarted_service()  # never started: nothing listens, no certificate exists
    async with memory_client(service, timeouts=TEST_TIMEOUTS) as client:
        audio = await speak(client, "The quick brown fox.")
        assert isinstance(client.transport, InMemoryTransport)
    assert 0.8 < duration_seconds(decode_audio(audio, "mp3", 24000), 24000) < 4.0
    record = service.streams[-1]
    assert "".join(record.texts) == "The quick brown fox."
    assert record.request_characters == len("The quick brown fox.")


async def test_signatures_are_still_checked() -> None:
    service = unstarted_service()
    wrong = Credentials(service.credentials.access_key, "not-the-secret")
    async with memory_client(service, credentials=wrong, timeouts=TEST_TIMEOUTS) as client:
        with pytest.raises(UnmodeledServiceError) as caught:
            await speak(client, "Never spoken.")
    assert caught.value.status == 403
    assert caught.value.code == "InvalidSignatureException"


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("reset", StreamResetError),
        ("goaway", ConnectionClosedError),
        ("drop", ConnectionClosedError),
        ("throttle", ThrottlingException),
    ],
)
async def test_faults_surface_as_they_do_over_a_connection(
    kind: str, error: type[Exception]
) -> None:
    service = unstarted_service()
    # about faults, not deadlines: a loaded machine must not turn a cut into a read timeout
    async with memory_client(service, timeouts=RELAXED) as client:
        service.inject(Fault(kind, "mid_stream"))  # type: ignore[arg-type]
        with pytest.raises(error):
            await speak(client, "This sentence is long enough to be cut in the middle. " * 3)
        # the next stream is served normally (a new connection after GOAWAY or a drop)
        assert await speak(client, "Again.")
        assert isinstance(client.transport, InMemoryTransport)
        assert client.transport.streams_active == 0


async def test_duplex_events_and_the_pool_property() -> None:
    service = unstarted_service()
    async with memory_client(service, timeouts=TEST_TIMEOUTS) as client:
        async with client.open_stream(voice_id="Joanna", output_format="pcm") as stream:
            await stream.send_text("Hello.", flush=True)
            await stream.end_input()
            events = [e async for e in stream]
        assert isinstance(events[-1], StreamClosedEvent)
        assert events[-1].request_characters == len("Hello.")
        with pytest.raises(ConfigurationError, match=r"client\.transport"):
            _ = client.pool


@virtual_clock  # the gaps are exact: a busy machine cannot stretch one past the idle limit
async def test_keep_alives_hold_an_idle_stream_open() -> None:
    service = unstarted_service()
    async with (
        memory_client(service, timeouts=TEST_TIMEOUTS) as client,
        client.open_stream(voice_id="Joanna", output_format="pcm") as stream,
    ):
        for _ in range(5):  # 1.5 s idle, with the service's inbound timeout at 1 s
            await asyncio.sleep(0.3)
            await stream.keep_alive()
        await stream.send_text("Still here.")
        await stream.end_input()
        events = [e async for e in stream]
    assert isinstance(events[-1], StreamClosedEvent)
    assert events[-1].request_characters == len("Still here.")  # keep-alives are not billed
    assert service.streams[-1].keep_alives == 5


def test_a_transport_without_open_stream_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="open_stream"):
        PollyStreamingClient(
            region="us-east-1",
            credentials=Credentials("AKID", "secret"),
            transport=object(),  # type: ignore[arg-type]
        )
