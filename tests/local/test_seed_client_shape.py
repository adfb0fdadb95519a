"""The seed's own client's request shape, replayed frame by frame on a raw HTTP/2 connection.

``amazon-polly-streaming`` 1.1.0 builds an awscrt request with both ``:authority`` and ``host``,
signs it with awscrt (the empty body's hash or UNSIGNED-PAYLOAD, no ``x-amz-content-sha256``
header; ``:authority`` among the signed headers), and awscrt turns the ``host`` header into a
second, identical ``:authority``. Here the same awscrt signer signs the same request and the
header block goes out in the order awscrt sends it, so this runs wherever the suite runs (the
package itself needs Python >= 3.13: see ``tests/interop/test_seed_client.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import h2.events
import pytest
from awscrt.auth import (
    AwsCredentialsProvider,
    AwsSignatureType,
    AwsSignedBodyHeaderType,
    AwsSignedBodyValue,
    AwsSigningAlgorithm,
    AwsSigningConfig,
    aws_sign_request,
)
from awscrt.http import HttpHeaders, HttpRequest
from h2.errors import ErrorCodes

from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.events import (
    AudioEvent,
    CloseStreamEvent,
    StreamClosedEvent,
    TextEvent,
    decode_output_message,
    encode_input_event,
)
from polly_pipeline.protocol.eventstream import EventStreamDecoder
from polly_pipeline.protocol.sigv4 import EventSigner
from tests.local.rawh2 import RawH2

pytestmark = pytest.mark.timeout(30)

PATH = "/v1/synthesisStream"
TEXT = "Hello from the seed client's request shape."


@pytest.fixture
async def service() -> AsyncIterator[LocalPollyService]:
    async with LocalPollyService(LocalServiceConfig(region="us-east-1")) as svc:
        yield svc


@pytest.fixture
async def h2client(service: LocalPollyService) -> AsyncIterator[RawH2]:
    client = await RawH2.connect(service.server, service.server.tls)
    yield client
    await client.close()


def seed_request(
    service: LocalPollyService,
    body: str = AwsSignedBodyValue.EMPTY_SHA256,
    *,
    credentials: Credentials | None = None,
    body_header: AwsSignedBodyHeaderType = AwsSignedBodyHeaderType.NONE,
) -> tuple[list[tuple[str, str]], str]:
    """The header block amazon-polly-streaming's request reaches the wire as, and its signature."""
    creds = credentials or service.credentials
    host = f"polly.{service.region}.amazonaws.com"
    request = HttpRequest(
        method="POST",
        path=PATH,
        headers=HttpHeaders(
            [
                (":authority", host),
                ("host", host),
                ("content-type", "application/vnd.amazon.eventstream"),
                ("x-amzn-Engine", "generative"),
                ("x-amzn-LanguageCode", "en-US"),
                ("x-amzn-OutputFormat", "mp3"),
                ("x-amzn-SampleRate", "24000"),
                ("x-amzn-VoiceId", "Joanna"),
            ]
        ),
    )
    config = AwsSigningConfig(
        algorithm=AwsSigningAlgorithm.V4,
        signature_type=AwsSignatureType.HTTP_REQUEST_HEADERS,
        credentials_provider=AwsCredentialsProvider.new_static(creds.access_key, creds.secret_key),
        region=service.region,
        service="polly",
        signed_body_value=body,
        signed_body_header_type=body_header,
    )
    signed = aws_sign_request(request, config).result(timeout=5)
    block = [(":method", "POST"), (":scheme", "https"), (":authority", host), (":path", PATH)]
    block.append((":authority", host))  # what awscrt makes of the host header
    rest = [(n.lower(), v) for n, v in signed.headers if n.lower() not in (":authority", "host")]
    signature = (signed.headers.get("authorization") or "").rsplit("Signature=", 1)[-1]
    return block + rest, signature


def seed_body(service: LocalPollyService, signature: str, text: str = TEXT) -> bytes:
    """One TextEvent, the CloseStreamEvent and the empty end frame, chained from ``signature``."""
    signer = EventSigner(
        credentials=service.credentials, region=service.region, seed_signature=signature
    )
    return (
        signer.sign(encode_input_event(TextEvent(text, "text", False)))
        + signer.sign(encode_input_event(CloseStreamEvent()))
        + signer.sign_end()
    )


def send(client: RawH2, headers: list[tuple[str, str]], body: bytes | None) -> int:
    stream_id: int = client.conn.get_next_available_stream_id()
    client.conn.send_headers(stream_id, headers, end_stream=False)
    if body is not None:
        client.conn.send_data(stream_id, body, end_stream=True)
    client.flush()
    return stream_id


def finished(stream_id: int) -> object:
    return lambda events: (
        any(isinstance(e, h2.events.StreamReset) and e.stream_id == stream_id for e in events)
        or any(isinstance(e, h2.events.StreamEnded) and e.stream_id == stream_id for e in events)
    )


def status_of(client: RawH2, stream_id: int) -> str:
    (response,) = client.of(h2.events.ResponseReceived, stream_id)
    return dict(response.headers)[":status"]


def events_of(client: RawH2, stream_id: int) -> list[object]:
    decoder = EventStreamDecoder()
    return [decode_output_message(m) for m in decoder.feed(client.body(stream_id))]


@pytest.mark.parametrize(
    ("body", "header"),
    [
        (AwsSignedBodyValue.EMPTY_SHA256, AwsSignedBodyHeaderType.NONE),
        (AwsSignedBodyValue.UNSIGNED_PAYLOAD, AwsSignedBodyHeaderType.NONE),
        (AwsSignedBodyValue.UNSIGNED_PAYLOAD, AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256),
    ],
    ids=["empty-body-hash", "unsigned-payload", "unsigned-payload-header"],
)
async def test_the_seed_clients_request_gets_audio(
    service: LocalPollyService, h2client: RawH2, body: str, header: AwsSignedBodyHeaderType
) -> None:
    headers, signature = seed_request(service, body, body_header=header)
    sent_hash = dict(headers).get("x-amz-content-sha256")
    assert sent_hash == (None if header == AwsSignedBodyHeaderType.NONE else body)
    stream_id = send(h2client, headers, seed_body(service, signature))
    await h2client.until(finished(stream_id), within=20)
    assert status_of(h2client, stream_id) == "200"
    events = events_of(h2client, stream_id)
    audio = b"".join(e.audio_chunk for e in events if isinstance(e, AudioEvent))
    assert len(audio) > 5000  # real mp3 frames for a short sentence
    assert events[-1] == StreamClosedEvent(len(TEXT))
    assert not h2client.of(h2.events.ConnectionTerminated)
    assert service.streams[-1].outcome == "completed"


@pytest.mark.parametrize(
    ("name", "value"),
    [(":path", "/elsewhere"), (":authority", "other.example"), (":method", "GET")],
)
async def test_a_malformed_request_resets_only_its_stream(
    service: LocalPollyService, h2client: RawH2, name: str, value: str
) -> None:
    headers, signature = seed_request(service)
    bad = send(h2client, [(name, value), *headers], None)
    await h2client.until(finished(bad))
    (reset,) = h2client.of(h2.events.StreamReset, bad)
    assert reset.error_code == ErrorCodes.PROTOCOL_ERROR
    # the connection lives on: the next request on it is served
    good = send(h2client, headers, seed_body(service, signature))
    await h2client.until(finished(good), within=20)
    assert status_of(h2client, good) == "200"
    assert not h2client.of(h2.events.ConnectionTerminated)


async def test_an_early_error_response_is_followed_by_rst_stream_no_error(
    service: LocalPollyService, h2client: RawH2
) -> None:
    wrong = Credentials(service.credentials.access_key, "not-the-secret")
    headers, _ = seed_request(service, credentials=wrong)
    stream_id = send(h2client, headers, None)  # the request body stays open, as the client's does
    await h2client.until(
        lambda events: bool(
            [e for e in events if isinstance(e, h2.events.StreamReset) and e.stream_id == stream_id]
        )
    )
    assert status_of(h2client, stream_id) == "403"
    assert b"signature" in h2client.body(stream_id).lower()
    assert h2client.of(h2.events.StreamEnded, stream_id)  # the response was complete first
    (reset,) = h2client.of(h2.events.StreamReset, stream_id)
    assert reset.error_code == ErrorCodes.NO_ERROR
    assert not h2client.of(h2.events.ConnectionTerminated)


async def test_an_unknown_payload_hash_is_refused_naming_the_accepted_forms(
    service: LocalPollyService, h2client: RawH2
) -> None:
    headers, signature = seed_request(
        service, "0" * 64, body_header=AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256
    )
    stream_id = send(h2client, headers, seed_body(service, signature))
    await h2client.until(finished(stream_id))
    assert status_of(h2client, stream_id) == "403"
    message = h2client.body(stream_id).decode()
    assert "STREAMING-AWS4-HMAC-SHA256-EVENTS" in message
    assert "UNSIGNED-PAYLOAD" in message
