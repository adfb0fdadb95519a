"""Event-stream codec: known vectors, botocore cross-checks, corruption, limits, fuzzing."""

from __future__ import annotations

import binascii
import contextlib
import datetime
import struct
import uuid
from collections.abc import Iterable

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polly_pipeline.errors import (
    CorruptFrameError,
    OversizedFrameError,
    ProtocolError,
    TruncatedFrameError,
)
from polly_pipeline.protocol import eventstream
from polly_pipeline.protocol.eventstream import (
    MAX_HEADER_VALUE_LENGTH,
    MAX_HEADERS_LENGTH,
    MAX_PAYLOAD_LENGTH,
    PRELUDE_LENGTH,
    EventStreamDecoder,
    Header,
    HeaderType,
    HeaderValue,
    Message,
    decode_message,
    encode_headers,
    encode_message,
)

UTC = datetime.UTC
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


# --- an independent framing helper (struct + binascii, not the module under test) ----------


def frame(header_block: bytes, payload: bytes = b"", *, total: int | None = None) -> bytes:
    """Frame raw header bytes with correct CRCs (``total`` may lie, with a valid prelude CRC)."""
    length = len(header_block) + len(payload) + 16 if total is None else total
    lengths = struct.pack("!II", length, len(header_block))
    prelude = lengths + struct.pack("!I", binascii.crc32(lengths))
    body = prelude + header_block + payload
    return body + struct.pack("!I", binascii.crc32(body))


def raw_header(name: bytes, code: int, value: bytes = b"") -> bytes:
    return bytes([len(name)]) + name + bytes([code]) + value


def independent_encode(header: Header) -> bytes:
    """Encode one header the way the Transcribe SDK's serializer does."""
    name = header.name.encode()
    value = header.value
    t = header.type
    if t in (HeaderType.BOOL_TRUE, HeaderType.BOOL_FALSE):
        return raw_header(name, t)
    if t in (HeaderType.BYTE, HeaderType.SHORT, HeaderType.INTEGER, HeaderType.LONG):
        fmt = {2: "!b", 3: "!h", 4: "!i", 5: "!q"}[t]
        return raw_header(name, t, struct.pack(fmt, value))
    if t in (HeaderType.BYTE_ARRAY, HeaderType.STRING):
        raw = value.encode() if isinstance(value, str) else value
        assert isinstance(raw, bytes)
        return raw_header(name, t, struct.pack("!H", len(raw)) + raw)
    if t is HeaderType.TIMESTAMP:
        assert isinstance(value, datetime.datetime)
        return raw_header(name, t, struct.pack("!q", round((value - EPOCH).total_seconds() * 1000)))
    assert isinstance(value, uuid.UUID)
    return raw_header(name, t, value.bytes)


def feed_all(decoder: EventStreamDecoder, chunks: Iterable[bytes]) -> list[Message]:
    out: list[Message] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out


def botocore_decode(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(dict(m.headers), bytes(m.payload)) for m in buffer]


def as_botocore(header: Header) -> object:
    """What botocore decodes a header value to (timestamps as ms, UUIDs as raw bytes)."""
    if isinstance(header.value, datetime.datetime):
        return (header.value - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(header.value, uuid.UUID):
        return header.value.bytes
    return header.value


ALL_TYPES = (
    Header.boolean("true", True),
    Header.boolean("false", False),
    Header.int8("byte", -128),
    Header.int16("short", 32767),
    Header.int32("integer", -(2**31)),
    Header.int64("long", 2**63 - 1),
    Header.bytes("bytes", b"\x00\xffraw"),
    Header.string("string", "héllo, wörld ✓"),
    Header.timestamp("timestamp", datetime.datetime(2026, 3, 19, 12, 34, 56, 789000, tzinfo=UTC)),
    Header.uuid("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
)


# --- published vectors (AWS event-stream test vectors, as in botocore's unit tests) -------

ALL_HEADERS_VECTOR = (
    b"\x00\x00\x00\x62\x00\x00\x00\x52\x03\xb5\xcb\x9c"
    b"\x010\x00\x011\x01\x012\x02\x02\x013\x03\x00\x03"
    b"\x014\x04\x00\x00\x00\x04\x015\x05\x00\x00\x00\x00\x00\x00\x00\x05"
    b"\x016\x06\x00\x05bytes\x017\x07\x00\x04utf8"
    b"\x018\x08\x00\x00\x00\x00\x00\x00\x00\x08\x019\x090123456789abcdef"
    b"\x63\x35\x36\x71"
)
ALL_HEADERS_DECODED = (
    Header.boolean("0", True),
    Header.boolean("1", False),
    Header.int8("2", 2),
    Header.int16("3", 3),
    Header.int32("4", 4),
    Header.int64("5", 5),
    Header.bytes("6", b"bytes"),
    Header.string("7", "utf8"),
    Header.timestamp("8", EPOCH + datetime.timedelta(milliseconds=8)),
    Header.uuid("9", uuid.UUID(bytes=b"0123456789abcdef")),
)
VECTORS = [
    pytest.param(
        b"\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2H\xeb}\x98\xc8\xff", (), b"", id="empty"
    ),
    pytest.param(
        b"\x00\x00\x00\x17\x00\x00\x00\x07)\x86\x01X\x04byte\x02\xff\xc2\xf8i\xdc",
        (Header.int8("byte", -1),),
        b"",
        id="int8",
    ),
    pytest.param(
        b"\x00\x00\x00\x1e\x00\x00\x00\x0e]J\xdb\x8d\x04long\x05" + b"\xff" * 8 + b"K\xc22\xda",
        (Header.int64("long", -1),),
        b"",
        id="int64",
    ),
    pytest.param(
        b"\x00\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'}\xc3e96",
        (),
        b"{'foo':'bar'}",
        id="payload-only",
    ),
    pytest.param(
        b"\x00\x00\x00=\x00\x00\x00 \x07\xfd\x83\x96\x0ccontent-type\x07\x00\x10"
        b"application/json{'foo':'bar'}\x8d\x9c\x08\xb1",
        (Header.string("content-type", "application/json"),),
        b"{'foo':'bar'}",
        id="string-header-and-payload",
    ),
    pytest.param(ALL_HEADERS_VECTOR, ALL_HEADERS_DECODED, b"", id="all-header-types"),
    pytest.param(
        b"\x00\x00\x00\x52\x00\x00\x00\x42\xbf\x23\x63\x7e"
        b"\x0d:message-type\x07\x00\x05error\x0b:error-code\x07\x00\x04code"
        b"\x0e:error-message\x07\x00\x07message\x6b\x6c\xea\x3d",
        (
            Header.string(":message-type", "error"),
            Header.string(":error-code", "code"),
            Header.string(":error-message", "message"),
        ),
        b"",
        id="error-frame",
    ),
]


@pytest.mark.parametrize(("wire", "headers", "payload"), VECTORS)
def test_published_vectors_decode(wire: bytes, headers: tuple[Header, ...], payload: bytes) -> None:
    assert decode_message(wire) == Message(headers, payload)
    assert feed_all(EventStreamDecoder(), [wire[i : i + 1] for i in range(len(wire))]) == [
        Message(headers, payload)
    ]


@pytest.mark.parametrize(("wire", "headers", "payload"), VECTORS)
def test_encoder_reproduces_published_vectors(
    wire: bytes, headers: tuple[Header, ...], payload: bytes
) -> None:
    assert encode_message(headers, payload) == wire


# --- round trips and botocore cross-checks ---------------------------------------------


def test_all_ten_types_round_trip() -> None:
    wire = encode_message(ALL_TYPES, b"payload")
    assert decode_message(wire) == Message(ALL_TYPES, b"payload")
    assert {h.type for h in ALL_TYPES} == set(HeaderType)


def test_botocore_parses_our_frames_for_all_ten_types() -> None:
    [(headers, payload)] = botocore_decode(encode_message(ALL_TYPES, b"\x00payload"))
    assert headers == {h.name: as_botocore(h) for h in ALL_TYPES}
    assert payload == b"\x00payload"


def test_timestamp_is_floored_to_milliseconds() -> None:
    when = datetime.datetime(2026, 3, 19, 12, 0, 0, 999999, tzinfo=UTC)
    [header] = decode_message(encode_message([Header.timestamp("t", when)])).headers
    assert header.value == when.replace(microsecond=999000)
    other_zone = when.astimezone(datetime.timezone(datetime.timedelta(hours=-7)))
    assert encode_headers([Header.timestamp("t", other_zone)]) == encode_headers(
        [Header.timestamp("t", when)]
    )
    before_epoch = EPOCH - datetime.timedelta(microseconds=1500)
    [header] = decode_message(encode_message([Header.timestamp("t", before_epoch)])).headers
    assert header.value == EPOCH - datetime.timedelta(milliseconds=2)


def _header_strategy() -> st.SearchStrategy[Header]:
    names = st.text(min_size=1, max_size=20).filter(lambda n: len(n.encode()) <= 255)
    stamps = st.integers(min_value=-(10**12), max_value=10**13).map(
        lambda ms: EPOCH + datetime.timedelta(milliseconds=ms)
    )
    return st.one_of(
        st.builds(Header.boolean, names, st.booleans()),
        st.builds(Header.int8, names, st.integers(-(2**7), 2**7 - 1)),
        st.builds(Header.int16, names, st.integers(-(2**15), 2**15 - 1)),
        st.builds(Header.int32, names, st.integers(-(2**31), 2**31 - 1)),
        st.builds(Header.int64, names, st.integers(-(2**63), 2**63 - 1)),
        st.builds(Header.bytes, names, st.binary(max_size=300)),
        st.builds(Header.string, names, st.text(max_size=100)),
        st.builds(Header.timestamp, names, stamps),
        st.builds(Header.uuid, names, st.uuids()),
    )


messages = st.tuples(st.lists(_header_strategy(), max_size=8), st.binary(max_size=2000))


@given(messages, st.data())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_any_chunking(message: tuple[list[Header], bytes], data: st.DataObject) -> None:
    headers, payload = message
    wire = encode_message(headers, payload) * 2
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    decoder = EventStreamDecoder()
    assert feed_all(decoder, chunks) == [Message(tuple(headers), payload)] * 2
    assert decoder.buffered == 0
    decoder.finish()


@given(
    st.lists(_header_strategy(), max_size=8, unique_by=lambda h: h.name),  # botocore: no dups
    st.binary(max_size=2000),
)
@settings(max_examples=150)
def test_botocore_agrees_on_any_message(headers: list[Header], payload: bytes) -> None:
    [(decoded, body)] = botocore_decode(encode_message(headers, payload))
    assert decoded == {h.name: as_botocore(h) for h in headers}
    assert body == payload


@given(messages)
@settings(max_examples=150)
def test_independently_framed_messages_decode(message: tuple[list[Header], bytes]) -> None:
    headers, payload = message
    wire = frame(b"".join(independent_encode(h) for h in headers), payload)
    assert wire == encode_message(headers, payload)
    assert decode_message(wire) == Message(tuple(headers), payload)


def test_many_messages_split_at_every_offset() -> None:
    wire = encode_message(ALL_TYPES, b"one") + encode_message([], b"") + encode_message([], b"3")
    expected = [Message(ALL_TYPES, b"one"), Message((), b""), Message((), b"3")]
    for cut in range(len(wire) + 1):
        decoder = EventStreamDecoder()
        assert decoder.feed(wire[:cut]) + decoder.feed(wire[cut:]) == expected
        decoder.finish()


def test_accepts_bytearray_and_memoryview() -> None:
    wire = encode_message([Header.string("a", "b")], b"xyz")
    decoder = EventStreamDecoder()
    assert decoder.feed(bytearray(wire[:5])) == []
    assert decoder.feed(memoryview(wire)[5:]) == [Message((Header.string("a", "b"),), b"xyz")]
    assert EventStreamDecoder().feed(memoryview(wire)) == decoder.feed(wire)


def test_buffered_counts_pending_bytes() -> None:
    wire = encode_message([], b"abc")
    decoder = EventStreamDecoder()
    decoder.feed(wire[:7])
    assert decoder.buffered == 7
    decoder.feed(wire[7:] + wire[:3])
    assert decoder.buffered == 3


def test_large_frame_fed_bytewise_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = eventstream._read_prelude

    def counting(*args: object) -> tuple[int, int]:
        nonlocal calls
        calls += 1
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(eventstream, "_read_prelude", counting)
    wire = encode_message([], bytes(20_000))
    decoder = EventStreamDecoder()
    assert feed_all(decoder, (wire[i : i + 1] for i in range(len(wire)))) == [
        Message((), bytes(20_000))
    ]
    assert calls == 2  # once when the prelude completed, once when the frame did


# --- corruption ----------------------------------------------------------------------------

SAMPLE = encode_message([Header.string(":event-type", "AudioEvent")], b"payload bytes")
HEADERS_END = PRELUDE_LENGTH + len(encode_headers([Header.string(":event-type", "AudioEvent")]))


@pytest.mark.parametrize(
    ("offset", "match"),
    [
        pytest.param(1, "prelude CRC mismatch", id="total-length"),
        pytest.param(6, "prelude CRC mismatch", id="headers-length"),
        pytest.param(9, "prelude CRC mismatch", id="prelude-crc"),
        pytest.param(PRELUDE_LENGTH + 3, "message CRC mismatch", id="headers"),
        pytest.param(HEADERS_END + 2, "message CRC mismatch", id="payload"),
        pytest.param(len(SAMPLE) - 1, "message CRC mismatch", id="message-crc"),
    ],
)
def test_flipped_byte_in_each_region(offset: int, match: str) -> None:
    corrupt = bytearray(SAMPLE)
    corrupt[offset] ^= 0x40
    with pytest.raises(CorruptFrameError, match=rf"{match}: expected 0x[0-9a-f]{{8}}.*got 0x"):
        decode_message(bytes(corrupt))
    with pytest.raises(CorruptFrameError, match=match):
        EventStreamDecoder(max_payload_length=2**32).feed(bytes(corrupt))


def test_every_truncation_is_reported() -> None:
    for cut in range(len(SAMPLE)):
        with pytest.raises(TruncatedFrameError):
            decode_message(SAMPLE[:cut])
        decoder = EventStreamDecoder()
        assert decoder.feed(SAMPLE[:cut]) == []
        if cut:
            with pytest.raises(TruncatedFrameError, match="input ended inside a frame"):
                decoder.finish()
        else:
            decoder.finish()


def test_trailing_bytes_after_one_message() -> None:
    with pytest.raises(CorruptFrameError, match="3 bytes follow the"):
        decode_message(SAMPLE + b"abc")


@pytest.mark.parametrize(
    ("total", "headers_length", "error", "match"),
    [
        (17_000_016, 0, OversizedFrameError, "payload of 17000000 bytes exceeds the 16 MiB limit"),
        (200_000, 150_000, OversizedFrameError, "header block of 150000 bytes exceeds the 128 KiB"),
        (10, 0, CorruptFrameError, "total length 10 is below the 16-byte minimum"),
        (40, 30, CorruptFrameError, "headers length 30 does not fit a 40-byte message"),
    ],
)
def test_bad_lengths_rejected_from_the_prelude_alone(
    total: int, headers_length: int, error: type[ProtocolError], match: str
) -> None:
    lengths = struct.pack("!II", total, headers_length)
    prelude = lengths + struct.pack("!I", binascii.crc32(lengths))
    with pytest.raises(error, match=match):
        EventStreamDecoder().feed(prelude)


def test_custom_limits() -> None:
    decoder = EventStreamDecoder(max_payload_length=10, max_headers_length=5)
    assert decoder.feed(encode_message([], bytes(10))) == [Message((), bytes(10))]
    with pytest.raises(OversizedFrameError, match="payload of 11 bytes exceeds the 10 bytes limit"):
        decoder.feed(encode_message([], bytes(11)))
    with pytest.raises(OversizedFrameError, match="header block of 6 bytes"):
        EventStreamDecoder(max_headers_length=5).feed(encode_message([Header.int8("abc", 1)]))


@pytest.mark.parametrize(
    ("block", "error", "match"),
    [
        (raw_header(b"x", 10), CorruptFrameError, "unknown header type 10 for header 'x'"),
        (b"\x05ab", CorruptFrameError, "header name of 5 bytes runs past"),
        (b"\x01x", CorruptFrameError, "header 'x' has no type byte"),
        (raw_header(b"x", 4, b"\x00\x00"), CorruptFrameError, "header 'x' value runs past"),
        (raw_header(b"x", 7, b"\x00\x05ab"), CorruptFrameError, "header 'x' value runs past"),
        (raw_header(b"x", 7, b"\x00"), CorruptFrameError, "header 'x' value runs past"),
        (raw_header(b"x", 9, b"short"), CorruptFrameError, "header 'x' value runs past"),
        (raw_header(b"\xff\xfe", 0), CorruptFrameError, "header name is not valid UTF-8"),
        (raw_header(b"s", 7, b"\x00\x02\xc3\x28"), CorruptFrameError, "header 's' is not valid"),
        (
            raw_header(b"t", 8, struct.pack("!q", 2**62)),
            CorruptFrameError,
            "timestamp 4611686018427387904 ms is out of range",
        ),
        (
            raw_header(b"b", 6, struct.pack("!H", 40000) + bytes(40000)),
            OversizedFrameError,
            "header 'b' value of 40000 bytes exceeds the 32767-byte limit",
        ),
    ],
)
def test_bad_header_blocks(block: bytes, error: type[ProtocolError], match: str) -> None:
    with pytest.raises(error, match=match):
        decode_message(frame(block, b"p"))


def test_decoder_is_poisoned_after_an_error() -> None:
    good = encode_message([], b"ok")
    bad = bytearray(good)
    bad[-1] ^= 1
    decoder = EventStreamDecoder()
    # the good message before the corrupt one is still delivered; the error comes next
    assert decoder.feed(good + bytes(bad)) == [Message((), b"ok")]
    with pytest.raises(CorruptFrameError, match="earlier error: message CRC mismatch"):
        decoder.feed(good)
    with pytest.raises(CorruptFrameError):
        decoder.finish()
    oversized = EventStreamDecoder(max_payload_length=1)
    with pytest.raises(OversizedFrameError):
        oversized.feed(good)
    with pytest.raises(OversizedFrameError, match="earlier error"):
        oversized.feed(b"")


# --- fuzzing: any bytes yield messages or a ProtocolError, never anything else ---------------


@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=20))
@settings(max_examples=400)
def test_arbitrary_bytes_only_raise_protocol_errors(data: bytes, sizes: list[int]) -> None:
    decoder = EventStreamDecoder()
    pos = 0
    try:
        for size in [*sizes, len(data)]:
            decoder.feed(data[pos : pos + size])
            pos += size
        decoder.finish()
    except ProtocolError:
        pass
    with contextlib.suppress(ProtocolError):
        decode_message(data)


@given(
    messages,
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_frames_only_raise_protocol_errors(
    message: tuple[list[Header], bytes], flips: list[tuple[int, int]]
) -> None:
    headers, payload = message
    # recompute the CRCs after mutating so the header parser, not the CRC, meets the damage
    wire = bytearray(frame(b"".join(independent_encode(h) for h in headers), payload))
    for offset, value in flips:
        wire[offset % len(wire)] = value
    block_end = min(len(wire) - 4, PRELUDE_LENGTH + struct.unpack_from("!I", wire, 4)[0])
    refreshed = frame(bytes(wire[PRELUDE_LENGTH:block_end]), bytes(wire[block_end:-4]))
    for candidate in (bytes(wire), refreshed):
        try:
            decoded = decode_message(candidate)
        except ProtocolError:
            continue
        assert isinstance(decoded, Message)


# --- encoder limits and misuse ------------------------------------------------------------


def test_encoder_enforces_limits() -> None:
    with pytest.raises(OversizedFrameError, match="payload of 16777217 bytes exceeds the 16 MiB"):
        encode_message([], bytes(MAX_PAYLOAD_LENGTH + 1))
    assert len(encode_message([], bytes(MAX_PAYLOAD_LENGTH))) == MAX_PAYLOAD_LENGTH + 16
    with pytest.raises(OversizedFrameError, match="value of 32768 bytes exceeds the 32767-byte"):
        encode_message([Header.bytes("b", bytes(MAX_HEADER_VALUE_LENGTH + 1))])
    with pytest.raises(OversizedFrameError, match="value of 32768 bytes"):
        encode_message([Header.string("s", "é" * 16384)])
    encode_message([Header.string("s", "x" * MAX_HEADER_VALUE_LENGTH)])
    with pytest.raises(OversizedFrameError, match="header name of 256 bytes exceeds the 255-byte"):
        encode_message([Header.boolean("n" * 256, True)])
    big = [Header.bytes(f"h{i}", bytes(MAX_HEADER_VALUE_LENGTH)) for i in range(5)]
    with pytest.raises(OversizedFrameError, match=r"header block of \d+ bytes exceeds the 128 KiB"):
        encode_message(big)
    assert MAX_HEADERS_LENGTH == 128 * 1024


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (Header("x", "text", HeaderType.INTEGER), TypeError),
        (Header("x", True, HeaderType.INTEGER), TypeError),
        (Header("x", 1, HeaderType.STRING), TypeError),
        (Header("x", "s", HeaderType.BYTE_ARRAY), TypeError),
        (Header("x", False, HeaderType.BOOL_TRUE), TypeError),
        (Header("x", 1, HeaderType.TIMESTAMP), TypeError),
        (Header("x", b"0" * 16, HeaderType.UUID), TypeError),
        (Header.int8("x", 128), ValueError),
        (Header.int16("x", -(2**15) - 1), ValueError),
        (Header.int32("x", 2**31), ValueError),
        (Header.int64("x", 2**63), ValueError),
        (Header.timestamp("x", datetime.datetime(2026, 1, 1)), ValueError),
        (Header.string("", "empty name"), ValueError),
    ],
)
def test_encoder_rejects_misuse(header: Header, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"'x'|must not be empty"):
        encode_message([header])


# --- the Message API --------------------------------------------------------------------


def test_message_lookup_and_repr() -> None:
    message = Message(
        (Header.string("a", "first"), Header.int32("b", 2), Header.string("a", "second")),
        bytes(1_000_000),
    )
    assert message.get("a") == "first"
    assert message.get("missing") is None
    assert message.get("missing", "dflt") == "dflt"
    expected: dict[str, HeaderValue] = {"a": "first", "b": 2}
    assert message.header_map() == expected
    text = repr(message)
    assert "payload=<1000000 bytes>" in text
    assert len(text) < 300
