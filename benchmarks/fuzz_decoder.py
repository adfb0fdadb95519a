"""Coverage-guided fuzzing of the event-stream decoder with atheris (libFuzzer).

Any input, fed in any chunking, must either decode or raise a ``ProtocolError`` subclass;
anything else (IndexError, struct.error, UnicodeDecodeError, a hang) is a crash. Half of the
inputs get valid CRCs patched in, so the fuzzer reaches header and payload parsing instead of
stopping at the checksum. Seeds are real Polly-shaped messages.

    pip install atheris
    python benchmarks/fuzz_decoder.py -max_total_time=60 [-runs=N] [corpus_dir]
"""

from __future__ import annotations

import contextlib
import struct
import sys
import zlib

import atheris  # type: ignore[import-untyped]

with atheris.instrument_imports():
    from polly_pipeline.errors import ProtocolError
    from polly_pipeline.protocol.eventstream import (
        EventStreamDecoder,
        Header,
        decode_message,
        encode_message,
    )

SEEDS = [
    encode_message(
        [
            Header.string(":message-type", "event"),
            Header.string(":event-type", "AudioEvent"),
            Header.int32("n", -7),
            Header.boolean("b", True),
            Header.int64("when", 1_700_000_000_000),
            Header.bytes("raw", b"\x00\xff"),
        ],
        b"\x00\x01" * 40,
    ),
    encode_message(
        [
            Header.string(":message-type", "exception"),
            Header.string(":exception-type", "ThrottlingException"),
            Header.int8("i8", 3),
            Header.int16("i16", -300),
        ],
        b'{"message": "slow down"}',
    ),
    encode_message([], b""),
]


def patch_crcs(frame: bytearray) -> None:
    """Make the prelude and message CRCs (and the total length) right for this frame."""
    if len(frame) < 16:
        return
    struct.pack_into(">I", frame, 0, len(frame))
    struct.pack_into(">I", frame, 8, zlib.crc32(frame[:8]))
    struct.pack_into(">I", frame, len(frame) - 4, zlib.crc32(frame[:-4]))


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0], bytearray(data[1:])
    if mode & 1:
        patch_crcs(body)
    chunk = (mode >> 1) + 1  # 1..128 bytes per feed
    decoder = EventStreamDecoder()
    try:
        for start in range(0, len(body), chunk):
            for message in decoder.feed(bytes(body[start : start + chunk])):
                assert isinstance(message.payload, bytes | bytearray | memoryview)
        decoder.finish()
    except ProtocolError:
        pass
    with contextlib.suppress(ProtocolError):
        decode_message(bytes(body))


def main() -> None:
    argv = list(sys.argv)
    atheris.Setup(argv, test_one_input)
    for seed in SEEDS:  # the seeds must decode, whole and byte by byte
        test_one_input(b"\x00" + seed)
        test_one_input(b"\x01" + seed)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
