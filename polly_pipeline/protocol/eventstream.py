"""Protocol layer: the AWS event-stream binary framing (encoder and incremental decoder).

One message on the wire (integers big-endian)::

    total length u32 | headers length u32 | prelude CRC u32 | headers | payload | message CRC u32

The prelude CRC covers the first 8 bytes, the message CRC everything before it. A header is
``name length u8 | name | type u8 | value``; the value layout depends on :class:`HeaderType`
(headers are encoded and parsed in :mod:`~polly_pipeline.protocol.headers`, re-exported here).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from polly_pipeline.errors import (
    CorruptFrameError,
    OversizedFrameError,
    ProtocolError,
    TruncatedFrameError,
)
from polly_pipeline.protocol.headers import (
    MAX_HEADER_NAME_LENGTH,
    MAX_HEADER_VALUE_LENGTH,
    MAX_HEADERS_LENGTH,
    Header,
    HeaderType,
    HeaderValue,
    encode_headers,
    epoch_millis,
    parse_headers,
    size_text,
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
#: The largest payload a message may carry.
MAX_PAYLOAD_LENGTH = 16 * 1024 * 1024

_MIN_MESSAGE_LENGTH = PRELUDE_LENGTH + 4
_PRELUDE = struct.Struct("!III")
_TWO_U32 = struct.Struct("!II")
_U32 = struct.Struct("!I")


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


def encode_frame(header_block: bytes, payload: bytes = b"") -> bytes:
    """Frame an already-encoded header block and a payload into one message."""
    if len(header_block) > MAX_HEADERS_LENGTH:
        raise OversizedFrameError(
            f"header block of {len(header_block)} bytes exceeds the "
            f"{size_text(MAX_HEADERS_LENGTH)} limit"
        )
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise OversizedFrameError(
            f"payload of {len(payload)} bytes exceeds the {size_text(MAX_PAYLOAD_LENGTH)} limit"
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
            f"header block of {headers_length} bytes exceeds the {size_text(max_headers)} limit"
        )
    payload_length = total - headers_length - _MIN_MESSAGE_LENGTH
    if payload_length > max_payload:
        raise OversizedFrameError(
            f"payload of {payload_length} bytes exceeds the {size_text(max_payload)} limit"
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
    headers = parse_headers(view[start : start + headers_length].tobytes())
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
