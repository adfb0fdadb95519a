"""Audio layer: the Ogg container (RFC 3533): page checksum, page and packet reader, writer.

One reader serves two needs. The decoder reads strictly: every page must start where the
last one ended and pass its CRC, one logical stream, no page missing, packets reassembled
across pages. The audio clock only needs granule positions, cheaply, from a stream it does
not own: it reads with ``resync=True`` and ``check_crc=False``, skipping bytes that are not
a page (as libogg's ``ogg_sync_pageseek`` does) instead of failing.

The writer lays packets on pages so that every packet handed to it is on a complete page
at once (a streaming muxer; FFmpeg's holds its last page back), and marks the last page with
the granule position where the audio really ends, so decoders trim the codec's padding.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from polly_pipeline.errors import AudioDecodeError

__all__ = ["OggPacketReader", "OggPage", "OggPageReader", "OggWriter", "ogg_crc"]

_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, n
_CONTINUED, _FIRST, _LAST = 1, 2, 4
_BIT_REVERSED = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def ogg_crc(data: bytes) -> int:
    """Ogg's page checksum: CRC-32, polynomial 0x04C11DB7, not reflected, no inversion.

    zlib's CRC-32 is the reflected form of the same polynomial, so reflecting the bytes in and
    the result out gives Ogg's at C speed.
    """
    reflected = zlib.crc32(data.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


@dataclass(frozen=True, slots=True)
class OggPage:
    """One page: its header fields, lacing values and body."""

    flags: int
    granule: int
    serial: int
    sequence: int
    lacing: bytes
    body: bytes

    @property
    def continued(self) -> bool:
        """The page's first packet continues one from the previous page."""
        return bool(self.flags & _CONTINUED)

    @property
    def last(self) -> bool:
        """The end-of-stream page."""
        return bool(self.flags & _LAST)


class OggPageReader:
    """Cuts bytes fed in pieces of any size into Ogg pages.

    Args:
        name: the format named in error messages (``ogg_vorbis``...).
        check_crc: verify each page's checksum.
        resync: skip bytes that are not a page (and, with ``check_crc``, pages that fail it)
            instead of raising.
    """

    def __init__(self, name: str = "ogg", *, check_crc: bool = True, resync: bool = False) -> None:
        self.name = name
        self._check_crc = check_crc
        self._resync = resync
        self._buffer = bytearray()
        self._pages = 0

    @property
    def pending(self) -> int:
        """Bytes held that are not a whole page yet."""
        return len(self._buffer)

    def error(self, detail: str) -> AudioDecodeError:
        """The error for a stream that is not Ogg audio of this reader's format."""
        return AudioDecodeError(f"cannot decode the data as {self.name}: {detail}")

    def feed(self, data: bytes) -> list[OggPage]:
        """Take the next bytes; returns every page they complete, in order.

        Raises:
            AudioDecodeError: (unless ``resync``) bytes that are not a page, or a bad checksum.
        """
        buffer = self._buffer
        buffer += data
        pages: list[OggPage] = []
        position = 0
        size = len(buffer)
        while size - position >= _HEADER.size:
            capture, version, flags, granule, serial, sequence, crc, count = _HEADER.unpack_from(
                buffer, position
            )
            if capture != b"OggS" or version != 0:
                position = self._skip(buffer, position)
                continue
            header_size = _HEADER.size + count
            if size - position < header_size:
                break
            lacing = bytes(buffer[position + _HEADER.size : position + header_size])
            end = position + header_size + sum(lacing)
            if size < end:
                break
            if self._check_crc and _page_crc(buffer, position, end) != crc:
                if self._resync:
                    position += 1
                    continue
                raise self.error(f"Ogg page {sequence} fails its checksum")
            body = bytes(buffer[position + header_size : end])
            pages.append(OggPage(flags, granule, serial, sequence, lacing, body))
            self._pages += 1
            position = end
        del buffer[:position]
        return pages

    def _skip(self, buffer: bytearray, position: int) -> int:
        if not self._resync:
            where = "at the start" if not self._pages else f"after page {self._pages - 1}"
            found = bytes(buffer[position : position + 4])
            raise self.error(f"no Ogg page {where} (found {found!r})")
        found_at = buffer.find(b"OggS", position + 1)
        return len(buffer) - 3 if found_at < 0 else found_at


def _page_crc(buffer: bytearray, start: int, end: int) -> int:
    page = bytes(buffer[start:end])
    return ogg_crc(page[:22] + b"\0\0\0\0" + page[26:])


class OggPacketReader:
    """Reads one logical Ogg stream strictly and yields its packets, reassembled across pages.

    :attr:`end_granule` is set once the end-of-stream page is read.
    """

    def __init__(self, name: str = "ogg") -> None:
        self._pages = OggPageReader(name)
        self._partial = bytearray()  # a packet continued on the next page
        self._serial: int | None = None
        self._sequence = -1
        self.end_granule: int | None = None

    def error(self, detail: str) -> AudioDecodeError:
        """The error for a stream that is not Ogg audio of this reader's format."""
        return self._pages.error(detail)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Take bytes; yields each packet completed by them."""
        for page in self._pages.feed(data):
            self._check(page)
            yield from self._packets_of(page)

    def finish(self) -> None:
        """The stream is over: fail if it stopped inside a page or a packet."""
        if self._pages.pending:
            raise self.error(f"the stream ends inside an Ogg page ({self._pages.pending} bytes)")
        if self._partial:
            raise self.error("the stream ends inside a packet continued on a missing page")

    def _check(self, page: OggPage) -> None:
        if self.end_granule is not None:
            raise self.error("an Ogg page follows the end of the stream")
        if self._serial is None:
            self._serial = page.serial
        elif page.serial != self._serial:
            raise self.error("more than one logical Ogg stream (chained or multiplexed)")
        if self._sequence >= 0 and page.sequence != self._sequence + 1:
            raise self.error(f"Ogg page {self._sequence + 1} is missing (got {page.sequence})")
        self._sequence = page.sequence
        if page.last:
            self.end_granule = page.granule

    def _packets_of(self, page: OggPage) -> Iterator[bytes]:
        if not page.continued and self._partial:
            raise self.error("a packet is cut off: the next page does not continue it")
        if page.continued and not self._partial:
            raise self.error("the first page continues a packet that never started")
        position = 0
        body = page.body
        for value in page.lacing:
            self._partial += body[position : position + value]
            position += value
            if value < 255:
                packet = bytes(self._partial)
                self._partial.clear()
                yield packet


class OggWriter:
    """Writes one logical Ogg stream, page by page.

    Args:
        header_pages: the codec's header packets, grouped by page (each group on its own).
        granule_offset: added to every granule position (Opus counts its pre-skip in them).
        serial: the stream's serial number (one logical stream per file: a fixed one will do).
    """

    def __init__(
        self, header_pages: Sequence[Sequence[bytes]], granule_offset: int = 0, serial: int = 0
    ) -> None:
        self._header_pages = header_pages
        self._granule_offset = granule_offset
        self._serial = serial
        self._sequence = 0
        self._granule = 0
        self._started = False

    @property
    def started(self) -> bool:
        """Whether the header pages were written."""
        return self._started

    def headers(self) -> bytes:
        """The header pages, the first time only."""
        if self._started:
            return b""
        self._started = True
        out = []
        for index, packets in enumerate(self._header_pages):
            laced = [(packet, 0) for packet in packets]  # header pages have granule 0
            out.append(self._page_run(laced, first=index == 0, last=False))
        return b"".join(out)

    def pages(self, packets: Sequence[tuple[bytes, int | None]], *, end: int | None) -> bytes:
        """Pages holding ``packets`` (data, sample position at its end if known).

        ``end`` (the total samples fed to the codec) closes the stream.
        """
        laced = []
        for data, position in packets:
            if position is not None:
                self._granule = max(self._granule, position)
            laced.append((data, self._granule + self._granule_offset))
        out = self.headers()
        if end is None:
            return out + (self._page_run(laced, first=False, last=False) if laced else b"")
        # the last page says where the audio really ends: decoders trim the codec's padding
        final = min(self._granule, end) + self._granule_offset
        if laced:
            laced[-1] = (laced[-1][0], final)
        return out + self._page_run(laced, first=False, last=True, granule=final)

    def _page_run(
        self, packets: list[tuple[bytes, int]], *, first: bool, last: bool, granule: int = 0
    ) -> bytes:
        """Lay packets (data, granule at their end) on as many pages as 255 segments need.

        ``granule`` is the position of a page on which no packet ends (an empty last page).
        """
        segments: list[tuple[int, int | None]] = []  # lacing value, granule if a packet ends
        body = bytearray()
        for data, end in packets:
            body += data
            full, rest = divmod(len(data), 255)
            segments += [(255, None)] * full + [(rest, end)]
        out = bytearray()
        position = 0
        continued = False
        while True:
            chunk, segments = segments[:255], segments[255:]
            size = sum(value for value, _ in chunk)
            ends = [end for _, end in chunk if end is not None]
            page_granule = ends[-1] if ends else (-1 if chunk else granule)
            flags = (_CONTINUED if continued else 0) | (_FIRST if first else 0)
            flags |= _LAST if last and not segments else 0
            out += self._page(flags, page_granule, chunk, bytes(body[position : position + size]))
            position += size
            continued = bool(chunk) and chunk[-1][1] is None
            first = False
            if not segments:
                return bytes(out)

    def _page(
        self, flags: int, granule: int, segments: list[tuple[int, int | None]], data: bytes
    ) -> bytes:
        header = _HEADER.pack(
            b"OggS", 0, flags, granule, self._serial, self._sequence, 0, len(segments)
        ) + bytes(value for value, _ in segments)
        self._sequence += 1
        page = header + data
        return page[:22] + struct.pack("<I", ogg_crc(page)) + page[26:]
