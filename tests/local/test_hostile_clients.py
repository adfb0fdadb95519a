"""Clients that never read, trickle their headers or open too many connections cannot make the
local service hold unbounded memory (memory figures: ``benchmarks/hostile_clients.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import h2.events
import pytest

from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.http import HttpServer, Request, RequestBody, Responder
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.events import CloseStreamEvent, TextEvent, encode_input_event
from polly_pipeline.protocol.params import SynthesisParams
from polly_pipeline.protocol.sigv4 import EventSigner, sign_request
from tests.local.rawh2 import RawH2, client_context

pytestmark = pytest.mark.timeout(60)

SENTENCES = [f"This is sentence number {n} of an answer nobody listens to. " for n in range(30)]


@pytest.fixture
async def service() -> AsyncIterator[LocalPollyService]:
    config = LocalServiceConfig(render_ahead_bytes=32 * 1024, inbound_event_timeout=30)
    async with LocalPollyService(config) as svc:
        yield svc


def open_stream(service: LocalPollyService, client: RawH2) -> int:
    """A signed StartSpeechSynthesisStream with every sentence, the close and the end frame."""
    authority = f"127.0.0.1:{service.server.port}"
    params = SynthesisParams.create(voice_id="Joanna", output_format="pcm", sample_rate=16000)
    signed = sign_request(
        method="POST",
        host=authority,
        path="/v1/synthesisStream",
        headers=[("content-type", "application/vnd.amazon.eventstream"), *params.to_headers()],
        credentials=service.credentials,
        region=service.region,
        now=datetime.now(UTC),
    )
    signer = EventSigner(
        credentials=service.credentials, region=service.region, seed_signature=signed.signature
    )
    body = b"".join(signer.sign(encode_input_event(TextEvent(s, "text", False))) for s in SENTENCES)
    body += signer.sign(encode_input_event(CloseStreamEvent())) + signer.sign_end()
    pseudo = [(":method", "POST"), (":scheme", "https"), (":authority", authority)]
    headers = [*pseudo, (":path", "/v1/synthesisStream")]
    headers += [(n, v) for n, v in signed.headers if n != "host"]
    stream_id: int = client.conn.get_next_available_stream_id()
    client.conn.send_headers(stream_id, headers)
    client.conn.send_data(stream_id, body, end_stream=True)
    client.flush()
    return stream_id


async def test_synthesis_waits_for_a_client_that_does_not_read(
    service: LocalPollyService,
) -> None:
    client = await RawH2.connect(service.server, service.server.tls, window=16 * 1024)
    try:
        stream_id = open_stream(service, client)
        await asyncio.sleep(4)  # the client reads nothing: no WINDOW_UPDATE
        record = service.streams[-1]
        # flow control (16 KB) + the render-ahead budget (32 KB) + one sentence in hand: a few
        # seconds of 16 kHz audio, not the ~90 s this text makes
        assert record.audio_seconds < 12, record.audio_seconds
        assert len(record.spoken) < 6
        # once the client reads, everything is spoken
        ended = lambda events: any(  # noqa: E731
            isinstance(e, h2.events.StreamEnded) and e.stream_id == stream_id for e in events
        )
        await client.until(ended, within=50)
        assert record.outcome == "completed"
        assert record.spoken == SENTENCES
        assert record.audio_seconds > 60
    finally:
        await client.close()


# -- header deadline and connection cap (the HTTP server) ------------------------------------


async def ok(request: Request, body: RequestBody, responder: Responder) -> None:
    await responder.send_headers(200)
    await responder.end()


@pytest.fixture(scope="module")
def tls() -> TLSMaterial:
    return TLSMaterial.generate()


@pytest.fixture
async def server(tls: TLSMaterial) -> AsyncIterator[HttpServer]:
    async with HttpServer(ok, tls=tls, header_timeout=0.5, max_connections=3) as srv:
        yield srv


async def connect(
    server: HttpServer, tls: TLSMaterial, alpn: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    context: ssl.SSLContext = client_context(tls, [alpn])
    return await asyncio.open_connection("127.0.0.1", server.port, ssl=context)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server closes the connection within ``seconds`` (reading what it sends)."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError):
        pass
    return True


async def refused(server: HttpServer, tls: TLSMaterial) -> bool:
    """Whether a new connection is closed before the server says anything."""
    try:
        reader, _ = await connect(server, tls, "h2")
        await reader.readexactly(1)
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        return True
    return False


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")  # + SETTINGS


@pytest.mark.parametrize(
    ("alpn", "partial"),
    [
        ("h2", PREFACE + bytes.fromhex("00004001")),  # the start of a HEADERS frame
        ("http/1.1", b"POST /v1/speech HTTP/1.1\r\nHost: loc"),
    ],
)
async def test_trickled_headers_are_cut_off_at_the_header_deadline(
    server: HttpServer, tls: TLSMaterial, alpn: str, partial: bytes
) -> None:
    reader, writer = await connect(server, tls, alpn)
    writer.write(partial)
    assert await closed_within(reader, 3)
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def test_an_idle_connection_is_not_cut_off_by_the_header_deadline(
    server: HttpServer, tls: TLSMaterial
) -> None:
    reader, writer = await connect(server, tls, "h2")
    writer.write(PREFACE)
    assert not await closed_within(reader, 1.5)
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def test_connections_beyond_the_cap_are_closed_on_accept(
    server: HttpServer, tls: TLSMaterial
) -> None:
    held = [await connect(server, tls, "h2") for _ in range(3)]
    assert server.active_connections == 3
    assert await refused(server, tls)
    assert server.connections_refused == 1
    for _, writer in held:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    async with asyncio.timeout(10):  # the server sees the closes (its counter has no event)
        while server.active_connections:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    _, writer = await connect(server, tls, "h2")  # room again
    assert server.active_connections == 1
    writer.close()
