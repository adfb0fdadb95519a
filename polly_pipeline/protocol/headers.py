"""Protocol layer: event-stream message headers: their types and values, encoded and parsed.

A header is ``name length u8 | name | type u8 | value``; the value layout depends on
:class:`HeaderType` (see :mod:`~polly_pipeline.protocol.eventstream` for the frame around it).
"""

from __future__ import annotations

import datetime
import enum
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

from polly_pipeline.errors import CorruptFrameError, OversizedFrameError

__all__ = [
    "MAX_HEADERS_LENGTH",
    "MAX_HEADER_NAME_LENGTH",
    "MAX_HEADER_VALUE_LENGTH",
    "Header",
    "HeaderType",
    "HeaderValue",
    "encode_headers",
    "epoch_millis",
    "parse_headers",
    "size_text",
]

#: The largest header block a message may carry.
MAX_HEADERS_LENGTH = 128 * 1024
#: The largest byte-array or string header value (bytes).
MAX_HEADER_VALUE_LENGTH = 32767
#: The largest header name (bytes of UTF-8).
MAX_HEADER_NAME_LENGTH = 255

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_U16 = struct.Struct("!H")
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


def size_text(n: int) -> str:
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
            f"header block of {len(block)} bytes exceeds the {size_text(MAX_HEADERS_LENGTH)} limit"
        )
    return block


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


def parse_headers(block: bytes) -> tuple[Header, ...]:
    """Decode a complete header block (short, recurring blocks are memoised)."""
    if len(block) <= _CACHED_BLOCK_LENGTH:
        return _parse_small_headers(block)
    return _parse_headers(block)
