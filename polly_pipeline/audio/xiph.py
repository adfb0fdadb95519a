"""Audio layer: Vorbis and Opus inside Ogg: their header packets, in both directions.

An Ogg Vorbis stream starts with three header packets (identification, comment, setup),
an Ogg Opus stream with two (``OpusHead``, ``OpusTags``; RFC 7845). FFmpeg keeps them as
one blob of "extradata" (Vorbis: Xiph-laced; Opus: the ``OpusHead`` alone); this module
converts between the two, checks them, and reads what a reader needs from them: the rate
granule positions count in, and the Opus pre-skip those positions include.
"""

from __future__ import annotations

import struct

from polly_pipeline.audio.ogg import OggWriter
from polly_pipeline.errors import AudioDecodeError

__all__ = ["OggHeaders", "opus_writer", "vorbis_writer", "xiph_lace", "xiph_unlace"]

_VENDOR = b"polly-pipeline"
_SERIAL = 0x506F6C79  # "Poly": one logical stream per file, so a fixed serial is enough
_MAGIC = {
    "ogg_opus": (b"OpusHead", b"OpusTags"),
    "ogg_vorbis": (b"\x01vorbis", b"\x03vorbis", b"\x05vorbis"),
}


def xiph_lace(size: int) -> bytes:
    """The Xiph lacing of one packet size."""
    return b"\xff" * (size // 255) + bytes([size % 255])


def xiph_unlace(extradata: bytes) -> list[bytes]:
    """Split Xiph-laced codec headers (FFmpeg's Vorbis extradata) into their three packets.

    Raises:
        ValueError: the blob is not three Xiph-laced packets.
    """
    if not extradata or extradata[0] != 2:
        raise ValueError("the Vorbis encoder gave no Xiph-laced headers")
    position = 1
    sizes = []
    for _ in range(2):
        size = 0
        while True:
            value = extradata[position]
            position += 1
            size += value
            if value < 255:
                break
        sizes.append(size)
    packets = []
    for size in sizes:
        packets.append(extradata[position : position + size])
        position += size
    packets.append(extradata[position:])
    return packets


def vorbis_writer(extradata: bytes) -> OggWriter:
    """An Ogg writer for Vorbis: identification header alone on the first page, then the rest."""
    identification, comment, setup = xiph_unlace(extradata)
    return OggWriter([[identification], [comment, setup]], granule_offset=0, serial=_SERIAL)


def opus_writer(head: bytes) -> OggWriter:
    """An Ogg writer for Opus: ``OpusHead`` alone on the first page, ``OpusTags`` on the second."""
    if not head.startswith(b"OpusHead") or len(head) < 19:
        raise ValueError("the Opus encoder gave no OpusHead")
    (pre_skip,) = struct.unpack_from("<H", head, 10)
    tags = b"OpusTags" + struct.pack("<I", len(_VENDOR)) + _VENDOR + struct.pack("<I", 0)
    return OggWriter([[head], [tags]], granule_offset=pre_skip, serial=_SERIAL)


class OggHeaders:
    """Collects and checks the header packets at the start of an Ogg Vorbis or Opus stream.

    Args:
        output_format: ``ogg_vorbis`` or ``ogg_opus``.
    """

    def __init__(self, output_format: str) -> None:
        self.output_format = output_format
        self._magic = _MAGIC[output_format]
        self.packets: list[bytes] = []
        #: The rate granule positions count in (Opus: always 48 kHz); None until read.
        self.sample_rate: int | None = None
        #: Samples at the start that granule positions include (the Opus pre-skip).
        self.granule_offset = 0

    @property
    def complete(self) -> bool:
        """Whether every header packet has been read."""
        return len(self.packets) == len(self._magic)

    def _error(self, detail: str) -> AudioDecodeError:
        return AudioDecodeError(f"cannot decode the data as {self.output_format}: {detail}")

    def add(self, packet: bytes) -> None:
        """Take the next header packet.

        Raises:
            AudioDecodeError: it is not the header packet the format has next.
        """
        index = len(self.packets)
        expected = self._magic[index]
        if not packet.startswith(expected):
            other = "Vorbis" if self.output_format == "ogg_opus" else "Opus"
            hint = f" (is it Ogg {other}?)" if index == 0 else ""
            raise self._error(f"header packet {index + 1} is not {expected!r}{hint}")
        if index == 0:
            if self.output_format == "ogg_opus":
                if len(packet) < 19:
                    raise self._error("the OpusHead packet is too short")
                (self.granule_offset,) = struct.unpack_from("<H", packet, 10)
                self.sample_rate = 48000  # Opus granule positions always count 48 kHz
            else:
                if len(packet) < 30:
                    raise self._error("the Vorbis identification header is too short")
                (self.sample_rate,) = struct.unpack_from("<I", packet, 12)
        self.packets.append(packet)

    def extradata(self) -> bytes:
        """The headers as FFmpeg's decoder wants them."""
        if self.output_format == "ogg_opus":
            return self.packets[0]
        identification, comment, setup = self.packets
        return (
            b"\x02" + xiph_lace(len(identification)) + xiph_lace(len(comment))
            + identification + comment + setup
        )  # fmt: skip
