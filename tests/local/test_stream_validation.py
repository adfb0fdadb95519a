"""The local service rejects bad inbound events the way Polly does: bytes crafted on the wire.

These tests bypass ``SpeechSynthesisStream`` (which refuses to send such input) and drive the
transport with hand-signed frames, so every check in the service is reached.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from polly_pipeline.errors import ValidationException
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.events import (
    CloseStreamEvent,
    StreamClosedEvent,
    TextEvent,
    decode_output_message,
    encode_input_event,
)
from polly_pipeline.protocol.eventstream import EventStreamDecoder, Header, encode_message
from polly_pipeline.protocol.params import SynthesisParams
from polly_pipeline.protocol.sigv4 import EventSigner, sign_request
from polly_pipeline.transport import ConnectionPool, Endpoint, TLSConfig
from tests.conftest import TEST_TIMEOUTS

#: Builds the request body from a signer: yields raw frames.
Frames = Callable[[EventSigner], AsyncIterator[bytes]]


def now() -> datetime:
    return datetime.now(UTC)


async def exchange(service: LocalPollyService, frames: Frames) -> list[object]:
    """Open a stream with a correctly signed request, send ``frames``, decode what comes back."""
    endpoint = Endpoint.from_url(service.endpoint_url)
    params = SynthesisParams.create(voice_id="Joanna", output_format="pcm")
    signed = sign_request(
        method="POST",
        host=endpoint.authority,
        path="/v1/synthesisStream",
        headers=[("content-type", "application/vnd.amazon.eventstream"), *params.to_headers()],
        credentials=service.credentials,
        region=service.region,
        now=now(),
    )
    signer = EventSigner(
        credentials=service.credentials,
        region=service.region,
        seed_signature=signed.signature,
        clock=now,
    )
    out: list[object] = []
    async with ConnectionPool(timeouts=TEST_TIMEOUTS, tls=TLSConfig(str(service.ca_file))) as pool:
        stream = await pool.open_stream(
            endpoint,
            method="POST",
            path="/v1/synthesisStream",
            headers=signed.headers,
            body=frames(signer),
        )
        async with stream:
            assert (await stream.response()).status == 200
            decoder = EventStreamDecoder()
            async for chunk in stream:
                for message in decoder.feed(chunk):
                    try:
                        out.append(decode_output_message(message))
                    except ValidationException as exc:
                        out.append(exc)
    return out


def text(value: str, flush: bool = False) -> bytes:
    return encode_input_event(TextEvent(value, "text", flush))


CLOSE = encode_input_event(CloseStreamEvent())


def only_error(events: list[object]) -> ValidationException:
    errors = [e for e in events if isinstance(e, ValidationException)]
    assert len(errors) == 1, events
    assert not any(isinstance(e, StreamClosedEvent) for e in events)
    return errors[0]


async def test_well_formed_hand_signed_stream_completes(local_polly: LocalPollyService) -> None:
    async def frames(signer: EventSigner) -> AsyncIterator[bytes]:
        yield signer.sign(text("Hand signed. "))
        yield signer.sign(CLOSE)
        yield signer.sign_end()

    events = await exchange(local_polly, frames)
    assert isinstance(events[-1], StreamClosedEvent)
    assert events[-1].request_characters == len("Hand signed. ")


async def test_tampered_frame_is_rejected(local_polly: LocalPollyService) -> None:
    async def frames(signer: EventSigner) -> AsyncIterator[bytes]:
        frame = bytearray(signer.sign(text("Pay 10 dollars.")))
        outer = EventStreamDecoder().feed(bytes(frame))[0]
        forged = outer.payload.replace(b"10", b"99")
        yield encode_message(outer.headers, forged)  # valid CRCs, wrong signature
        await asyncio.sleep(5)

    error = only_error(await exchange(local_polly, frames))
    assert error.reason == "invalidInboundEvent"
    assert "signature" in error.message


async def test_replayed_frame_breaks_the_chain(local_polly: LocalPollyService) -> None:
    async def frames(signer: EventSigner) -> AsyncIterator[bytes]:
        first = signer.sign(text("Once. "))
        yield first
        yield first  # signed for the previous link of the chain
        await asyncio.sleep(5)

    assert "signature" in only_error(await exchange(local_polly, frames)).message


async def test_stale_event_date_is_rejected(local_polly: LocalPollyService) -> None:
    async def frames(signer: EventSigner) -> AsyncIterator[bytes]:
        stale = EventSigner(
            credentials=local_polly.credentials,
            region=local_polly.region,
            seed_signature=signer.prior_signature,
            clock=lambda: datetime.now(UTC) - timedelta(minutes=10),
        )
        yield stale.sign(text("Late. "))
        await asyncio.sleep(5)

    error = only_error(await exchange(local_polly, frames))
    assert "signature" in error.message


async def test_malformed_frame_is_rejected(local_polly: LocalPollyService) -> None:
    async def frames(signer: EventSigner) -> AsyncIterator[bytes]:
        frame = bytearray(signer.sign(text("Broken. ")))
        frame[-1] ^= 0xFF  # message CRC no longer matches
        yield bytes(frame)
        await asyncio.sleep(5)

    error = only_error(await exchange(local_polly, frames))
    assert error.reason == "invalidInboundEvent"
    assert "malformed" in error.message


async def test_event_over_6000_characters_names_the_field(local_polly: LocalPollyService) -> None:
    async def frames(signer: EventSigner) -> AsyncIterator[bytes]:
        yield signer.sign(text("a" * 6001))
        await asyncio.sleep(5)

    error = only_error(await exchange(local_polly, frames))
    assert error.reason == "fieldValidationFailed"
    assert [f.name for f in error.fields] == ["Text"]
    assert "6001" in error.message


async def test_unknown_event_type_is_rejected(local_polly: LocalPollyService) -> None:
    async def frames(signer: EventSigner) -> AsyncIterator[bytes]:
        inner = encode_message(
            (
                Header.string(":message-type", "event"),
                Header.string(":event-type", "AudioEvent"),
                Header.string(":content-type", "application/json"),
            ),
            b"{}",
        )
        yield signer.sign(inner)
        await asyncio.sleep(5)

    assert only_error(await exchange(local_polly, frames)).reason == "invalidInboundEvent"


async def test_event_after_close_is_rejected(local_polly: LocalPollyService) -> None:
    async def frames(signer: EventSigner) -> AsyncIterator[bytes]:
        # one DATA chunk: the service sees the late event before it can finish the stream
        yield signer.sign(CLOSE) + signer.sign(text("Too late. "))
        await asyncio.sleep(5)

    assert "after the CloseStreamEvent" in only_error(await exchange(local_polly, frames)).message


@pytest.mark.parametrize("missing", [":date", ":chunk-signature"])
async def test_unsigned_wrapper_is_rejected(local_polly: LocalPollyService, missing: str) -> None:
    async def frames(signer: EventSigner) -> AsyncIterator[bytes]:
        outer = EventStreamDecoder().feed(signer.sign(text("Hi. ")))[0]
        headers = tuple(h for h in outer.headers if h.name != missing)
        yield encode_message(headers, outer.payload)
        await asyncio.sleep(5)

    assert missing in only_error(await exchange(local_polly, frames)).message


async def test_oversized_frame_is_rejected_from_its_prelude(local_polly: LocalPollyService) -> None:
    async def frames(signer: EventSigner) -> AsyncIterator[bytes]:
        prelude = struct.pack(">II", 15_000_000, 0)
        yield prelude + struct.pack(">I", zlib.crc32(prelude)) + bytes(4096)
        await asyncio.sleep(5)  # the rest of the 15 MB never comes: the prelude must suffice

    error = only_error(await exchange(local_polly, frames))
    assert error.reason == "invalidInboundEvent"
    assert "declares 15000000 bytes" in error.message
