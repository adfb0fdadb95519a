"""Protocol layer: the AWS event-stream binary framing (encoder and incremental decoder).

One message on the wire (integers big-endian)::

    total length u32 | headers length u32 | prelude CRC u32 | headers | payload | message CRC u32

The prelude CRC covers the first 8 bytes, the message CRC everything before it. A header is
``name length u8 | name | type u8 | value``; the value layout depends on :class:`HeaderType`.
"""

from __future__ import annotations

import datetime
import enum
import struct
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

from polly_pipeline.errors import (
    CorruptFrameError,
    OversizedFrameError,
    ProtocolError,
    TruncatedFrameError,
)

__all__ = [
    "MAX_HEADERS_LENGTH",
    "MAX_HEADER_NAME_LENGTH",
    "MAX_HEADER_VALUE_LENGTH",
    "MAX_PAYLOAD_LENGTH",
    "PRELUDE_LENGTH",
    "EventStreamDecoder",
    "Header",
    "HeaderType",
    "HeaderValue",
    "Message",
    "decode_message",
    "encode_frame",
    "encode_headers",
    "encode_message",
    "epoch_millis",
]

#: Bytes before the header block: total length, headers length, prelude CRC.
PRELUDE_LENGTH = 12
#: The largest header block a message may carry.
MAX_HEADERS_LENGTH = 128 * 1024
#: The largest payload a message may carry.
MAX_PAYLOAD_LENGTH = 16 * 1024 * 1024
#: The largest byte-array or string header value (bytes).
MAX_HEADER_VALUE_LENGTH = 32767
#: The largest header name (bytes of UTF-8).
MAX_HEADER_NAME_LENGTH = 255

_MIN_MESSAGE_LENGTH = PRELUDE_LENGTH + 4
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_PRELUDE = struct.Struct("!III")
_TWO_U32 = struct.Struct("!II")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_I64 = struct.Struct("!q")
_INTS = {2: struct.Struct("!b"), 3: struct.Struct("!h"), 4: struct.Struct("!i"), 5: _I64}
# Header blocks at most this long are memoised: the same few blocks (an AudioEvent's, say)
# recur on every message, and the decoded headers are immutable, so sharing them is safe.
_CACHED_BLOCK_LENGTH = 256

_Bytes: TypeAlias = bytes
_UUID: TypeAlias = uuid.UUID


class HeaderType(enum.IntEnum):
    """The wire type code of a header value."""

    BOOL_TRUE = 0
    BOOL_FALSE = 1
    BYTE = 2
    SHORT = 3
    INTEGER = 4
    LONG = 5
    BYTE_ARRAY = 6
    STRING = 7
    TIMESTAMP = 8
    UUID = 9


_TYPES = tuple(HeaderType)
_INT_BITS = {HeaderType.BYTE: 8, HeaderType.SHORT: 16, HeaderType.INTEGER: 32, HeaderType.LONG: 64}

HeaderValue: TypeAlias = bool | int | bytes | str | datetime.datetime | uuid.UUID


@dataclass(frozen=True, slots=True)
class Header:
    """One typed message header; build it with the classmethods so value and type agree."""

    name: str
    value: HeaderValue
    type: HeaderType

    @classmethod
    def string(cls, name: str, value: str) -> Header:
        """A UTF-8 string header (type 7)."""
        return cls(name, value, HeaderType.STRING)

    @classmethod
    def timestamp(cls, name: str, value: datetime.datetime) -> Header:
        """A timestamp header (type 8, milliseconds since the epoch); ``value`` must be aware."""
        return cls(name, value, HeaderType.TIMESTAMP)

    @classmethod
    def boolean(cls, name: str, value: bool) -> Header:
        """A boolean header (type 0 or 1, no value bytes)."""
        return cls(name, value, HeaderType.BOOL_TRUE if value else HeaderType.BOOL_FALSE)

    @classmethod
    def int8(cls, name: str, value: int) -> Header:
        """A signed 8-bit integer header (type 2)."""
        return cls(name, value, HeaderType.BYTE)

    @classmethod
    def int16(cls, name: str, value: int) -> Header:
        """A signed 16-bit integer header (type 3)."""
        return cls(name, value, HeaderType.SHORT)

    @classmethod
    def int32(cls, name: str, value: int) -> Header:
        """A signed 32-bit integer header (type 4)."""
        return cls(name, value, HeaderType.INTEGER)

    @classmethod
    def int64(cls, name: str, value: int) -> Header:
        """A signed 64-bit integer header (type 5)."""
        return cls(name, value, HeaderType.LONG)

    # ``bytes`` and ``uuid`` shadow the builtin and the module inside the class body: keep last.
    @classmethod
    def uuid(cls, name: str, value: _UUID) -> Header:
        """A UUID header (type 9, 16 raw bytes)."""
        return cls(name, value, HeaderType.UUID)

    @classmethod
    def bytes(cls, name: str, value: _Bytes) -> Header:
        """A byte-array header (type 6)."""
        return cls(name, value, HeaderType.BYTE_ARRAY)


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded (or to-be-encoded) event-stream message."""

    headers: tuple[Header, ...]
    payload: bytes

    def get(self, name: str, default: HeaderValue | None = None) -> HeaderValue | None:
        """The value of the first header called ``name``, else ``default``."""
        for header in self.headers:
            if header.name == name:
                return header.value
        return default

    def header_map(self) -> dict[str, HeaderValue]:
        """The headers as a dict (the first of duplicate names wins, as in :meth:`get`)."""
        return {h.name: h.value for h in reversed(self.headers)}

    def __repr__(self) -> str:
        return f"Message(headers={self.headers!r}, payload=<{len(self.payload)} bytes>)"


# --- encoding ------------------------------------------------------------------------------


def _size(n: int) -> str:
    """A byte count in the unit it was defined in (``16 MiB``, ``128 KiB``, ``255 bytes``)."""
    if n and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def epoch_millis(value: datetime.datetime) -> int:
    """Whole milliseconds since the Unix epoch (floored, exact: no float rounding)."""
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _encode_header(header: Header) -> bytes:
    """Encode one header; raises OversizedFrameError for limits, TypeError/ValueError for misuse."""
    name = header.name.encode("utf-8")
    if len(name) > MAX_HEADER_NAME_LENGTH:
        raise OversizedFrameError(
            f"header name of {len(name)} bytes exceeds the {MAX_HEADER_NAME_LENGTH}-byte limit"
        )
    if not name:
        raise ValueError("header names must not be empty")
    htype, value = header.type, header.value
    head = _Bytes((len(name),)) + name + _Bytes((htype,))
    if htype is HeaderType.BOOL_TRUE or htype is HeaderType.BOOL_FALSE:
        expected = htype is HeaderType.BOOL_TRUE
        if value is not expected:
            raise TypeError(f"header {header.name!r} of type {htype.name} needs value {expected}")
        return head
    if htype in _INT_BITS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"header {header.name!r} of type {htype.name} needs an int")
        bits = _INT_BITS[htype]
        if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
            raise ValueError(
                f"header {header.name!r}: {value} does not fit a signed {bits}-bit {htype.name}"
            )
        return head + _INTS[htype].pack(value)
    if htype is HeaderType.STRING or htype is HeaderType.BYTE_ARRAY:
        if htype is HeaderType.STRING:
            if not isinstance(value, str):
                raise TypeError(f"header {header.name!r} of type STRING needs a str")
            raw = value.encode("utf-8")
        elif isinstance(value, _Bytes):
            raw = value
        else:
            raise TypeError(f"header {header.name!r} of type BYTE_ARRAY needs bytes")
        if len(raw) > MAX_HEADER_VALUE_LENGTH:
            raise OversizedFrameError(
                f"header {header.name!r} value of {len(raw)} bytes exceeds the "
                f"{MAX_HEADER_VALUE_LENGTH}-byte limit"
            )
        return head + _U16.pack(len(raw)) + raw
    if htype is HeaderType.TIMESTAMP:
        if not isinstance(value, datetime.datetime):
            raise TypeError(f"header {header.name!r} of type TIMESTAMP needs a datetime")
        if value.utcoffset() is None:
            raise ValueError(f"header {header.name!r}: naive datetime; pass an aware (UTC) one")
        return head + _I64.pack(epoch_millis(value))
    if htype is HeaderType.UUID:
        if not isinstance(value, uuid.UUID):
            raise TypeError(f"header {header.name!r} of type UUID needs a uuid.UUID")
        return head + value.bytes
    raise ValueError(f"header {header.name!r}: unknown header type {htype!r}")


def encode_headers(headers: Iterable[Header]) -> bytes:
    """Encode a header block (without the prelude), checking every limit."""
    block = b"".join([_encode_header(h) for h in headers])
    if len(block) > MAX_HEADERS_LENGTH:
        raise OversizedFrameError(
            f"header block of {len(block)} bytes exceeds the {_size(MAX_HEADERS_LENGTH)} limit"
        )
    return block


def encode_frame(header_block: bytes, payload: bytes = b"") -> bytes:
    """Frame an already-encoded header block and a payload into one message."""
    if len(header_block) > MAX_HEADERS_LENGTH:
        raise OversizedFrameError(
            f"header block of {len(header_block)} bytes exceeds the "
            f"{_size(MAX_HEADERS_LENGTH)} limit"
        )
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise OversizedFrameError(
            f"payload of {len(payload)} bytes exceeds the {_size(MAX_PAYLOAD_LENGTH)} limit"
        )
    lengths = _TWO_U32.pack(
        len(header_block) + len(payload) + _MIN_MESSAGE_LENGTH, len(header_block)
    )
    prelude = lengths + _U32.pack(zlib.crc32(lengths))
    crc = zlib.crc32(payload, zlib.crc32(header_block, zlib.crc32(prelude)))
    return b"".join((prelude, header_block, payload, _U32.pack(crc)))


def encode_message(headers: Iterable[Header], payload: bytes = b"") -> bytes:
    """Encode one message, checking every protocol limit."""
    return encode_frame(encode_headers(headers), payload)


# --- decoding ------------------------------------------------------------------------------


def _parse_headers(block: bytes) -> tuple[Header, ...]:
    """Decode a complete header block."""
    headers: list[Header] = []
    end = len(block)
    pos = 0
    while pos < end:
        length = block[pos]
        pos += 1
        if pos + length > end:
            raise CorruptFrameError(
                f"header name of {length} bytes runs past the end of the header block"
            )
        try:
            name = block[pos : pos + length].decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptFrameError("header name is not valid UTF-8") from None
        pos += length
        if pos >= end:
            raise CorruptFrameError(f"header {name!r} has no type byte")
        code = block[pos]
        pos += 1
        value: HeaderValue
        if code <= 1:
            value = code == 0
        elif code in _INTS:
            fmt = _INTS[code]
            if pos + fmt.size > end:
                raise CorruptFrameError(f"header {name!r} value runs past the header block")
            (value,) = fmt.unpack_from(block, pos)
            pos += fmt.size
        elif code in {6, 7}:
            if pos + 2 > end:
                raise CorruptFrameError(f"header {name!r} value runs past the header block")
            size = (block[pos] << 8) | block[pos + 1]
            pos += 2
            if size > MAX_HEADER_VALUE_LENGTH:
                raise OversizedFrameError(
                    f"header {name!r} value of {size} bytes exceeds the "
                    f"{MAX_HEADER_VALUE_LENGTH}-byte limit"
                )
            if pos + size > end:
                raise CorruptFrameError(f"header {name!r} value runs past the header block")
            raw = block[pos : pos + size]
            pos += size
            if code == 6:
                value = raw
            else:
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise CorruptFrameError(f"header {name!r} is not valid UTF-8") from None
        elif code == 8:
            if pos + 8 > end:
                raise CorruptFrameError(f"header {name!r} value runs past the header block")
            (millis,) = _I64.unpack_from(block, pos)
            pos += 8
            try:
                value = _EPOCH + datetime.timedelta(milliseconds=millis)
            except OverflowError:
                raise CorruptFrameError(
                    f"header {name!r} timestamp {millis} ms is out of range"
                ) from None
        elif code == 9:
            if pos + 16 > end:
                raise CorruptFrameError(f"header {name!r} value runs past the header block")
            value = uuid.UUID(bytes=block[pos : pos + 16])
            pos += 16
        else:
            raise CorruptFrameError(f"unknown header type {code} for header {name!r}")
        headers.append(Header(name, value, _TYPES[code]))
    return tuple(headers)


_parse_small_headers = lru_cache(maxsize=128)(_parse_headers)


def _read_prelude(
    view: memoryview, pos: int, max_headers: int, max_payload: int
) -> tuple[int, int]:
    """Validate the prelude at ``pos``; return (total length, headers length)."""
    total, headers_length, crc = _PRELUDE.unpack_from(view, pos)
    actual = zlib.crc32(view[pos : pos + 8])
    if actual != crc:
        raise CorruptFrameError(
            f"prelude CRC mismatch: expected 0x{crc:08x} (in frame), got 0x{actual:08x} (computed)"
        )
    if total < _MIN_MESSAGE_LENGTH:
        raise CorruptFrameError(
            f"total length {total} is below the {_MIN_MESSAGE_LENGTH}-byte minimum"
        )
    if headers_length > total - _MIN_MESSAGE_LENGTH:
        raise CorruptFrameError(
            f"headers length {headers_length} does not fit a {total}-byte message"
        )
    if headers_length > max_headers:
        raise OversizedFrameError(
            f"header block of {headers_length} bytes exceeds the {_size(max_headers)} limit"
        )
    payload_length = total - headers_length - _MIN_MESSAGE_LENGTH
    if payload_length > max_payload:
        raise OversizedFrameError(
            f"payload of {payload_length} bytes exceeds the {_size(max_payload)} limit"
        )
    return total, headers_length


def _read_message(view: memoryview, pos: int, total: int, headers_length: int) -> Message:
    """Check the message CRC of the complete frame at ``pos`` and decode it."""
    crc_at = pos + total - 4
    (crc,) = _U32.unpack_from(view, crc_at)
    actual = zlib.crc32(view[pos:crc_at])
    if actual != crc:
        raise CorruptFrameError(
            f"message CRC mismatch: expected 0x{crc:08x} (in frame), got 0x{actual:08x} (computed)"
        )
    start = pos + PRELUDE_LENGTH
    block = view[start : start + headers_length].tobytes()
    if headers_length <= _CACHED_BLOCK_LENGTH:
        headers = _parse_small_headers(block)
    else:
        headers = _parse_headers(block)
    return Message(headers, view[start + headers_length : crc_at].tobytes())


class EventStreamDecoder:
    """Incremental decoder: feed bytes in any chunking, get whole messages back.

    The buffer is a ``bytearray`` consumed from the front, and a frame is parsed once, when
    its last byte arrives, so the work is linear in the input however it is chunked. The
    prelude is checked as soon as its 12 bytes arrive, so a corrupt or oversized length is
    rejected without waiting for the bytes it announces.

    Errors: after a :class:`~polly_pipeline.errors.CorruptFrameError` or
    :class:`~polly_pipeline.errors.OversizedFrameError` the decoder is poisoned: the stream can
    no longer be re-synchronised, so every later :meth:`feed` or :meth:`finish` raises the
    same kind of error. Messages completed earlier in the same chunk are returned first and
    the error is raised by the next call.
    """

    def __init__(
        self,
        *,
        max_payload_length: int = MAX_PAYLOAD_LENGTH,
        max_headers_length: int = MAX_HEADERS_LENGTH,
    ) -> None:
        if max_payload_length < 0 or max_headers_length < 0:
            raise ValueError("limits must not be negative")
        self._max_payload = max_payload_length
        self._max_headers = max_headers_length
        self._buffer = bytearray()
        self._need = PRELUDE_LENGTH  # bytes the buffer must hold before parsing can progress
        self._failure: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Message]:
        """Add received bytes; return the messages they complete (possibly none)."""
        self._raise_if_failed()
        buffer = self._buffer
        if buffer:
            buffer += data
            if len(buffer) < self._need:
                return []
            messages, used = self._drain(buffer)
            del buffer[:used]  # O(1) for CPython bytearrays: the start pointer moves
            return messages
        # Nothing pending: parse straight from the caller's bytes, keep only the tail.
        with memoryview(data) as view, view.cast("B") as flat:
            messages, used = self._drain(flat)
            if used < len(flat):
                buffer += flat[used:]
        return messages

    def finish(self) -> None:
        """Declare the end of input; raises TruncatedFrameError if it ends inside a frame."""
        self._raise_if_failed()
        if self._buffer:
            raise TruncatedFrameError(
                f"input ended inside a frame: {len(self._buffer)} bytes buffered, "
                f"{self._need} needed"
            )

    def _drain(self, source: bytes | bytearray | memoryview) -> tuple[list[Message], int]:
        """Decode every complete message at the start of ``source``; return them and bytes used."""
        messages: list[Message] = []
        pos = 0
        with memoryview(source) as view:
            size = len(view)
            try:
                while size - pos >= PRELUDE_LENGTH:
                    total, headers_length = _read_prelude(
                        view, pos, self._max_headers, self._max_payload
                    )
                    if size - pos < total:
                        self._need = total
                        return messages, pos
                    messages.append(_read_message(view, pos, total, headers_length))
                    pos += total
            except ProtocolError as exc:
                self._failure = exc
                if not messages:
                    raise
                return messages, pos
        self._need = PRELUDE_LENGTH
        return messages, pos

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            failure = self._failure
            raise type(failure)(f"decoder stopped by an earlier error: {failure}") from failure


def decode_message(data: bytes) -> Message:
    """Decode exactly one whole message; anything less or more is an error."""
    with memoryview(data) as view:
        if len(view) < PRELUDE_LENGTH:
            raise TruncatedFrameError(
                f"{len(view)} bytes is shorter than the {PRELUDE_LENGTH}-byte prelude"
            )
        total, headers_length = _read_prelude(view, 0, MAX_HEADERS_LENGTH, MAX_PAYLOAD_LENGTH)
        if len(view) < total:
            raise TruncatedFrameError(f"message of {total} bytes truncated to {len(view)}")
        if len(view) > total:
            raise CorruptFrameError(f"{len(view) - total} bytes follow the {total}-byte message")
        return _read_message(view, 0, total, headers_length)
