"""Session layer: how many seconds of audio a byte stream holds, without decoding it.

Exact for every format Polly produces: PCM and G.711 by byte count, MP3 by counting MPEG
frames (each frame header gives its length and sample count), Ogg (Vorbis and Opus) by the
granule position of the last complete page. Cheap enough to run on every chunk.
"""

from __future__ import annotations

import struct

__all__ = ["AudioClock"]

# MPEG audio Layer III: bitrates (kbit/s) by version, and sample rates by version
_MP3_BITRATES = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2
    0: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2.5
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_OGG_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, n


class AudioClock:
    """Counts the seconds of audio in an encoded stream fed chunk by chunk."""

    def __init__(self, output_format: str, sample_rate: int) -> None:
        self.output_format = output_format
        self.sample_rate = sample_rate
        self._samples = 0
        self._bytes = 0
        self._buffer = bytearray()
        self._opus_pre_skip = 0
        self._granule = 0

    @property
    def seconds(self) -> float:
        """Seconds of audio in everything fed so far (complete frames or pages only)."""
        if self.output_format in ("ogg_vorbis", "ogg_opus"):
            rate = 48000 if self.output_format == "ogg_opus" else self.sample_rate
            return max(0, self._granule - self._opus_pre_skip) / rate
        return self._samples / self.sample_rate

    def feed(self, data: bytes) -> float:
        """Account for ``data``; returns the new total in seconds."""
        fmt = self.output_format
        if fmt in ("pcm", "mulaw", "alaw"):
            self._bytes += len(data)
            self._samples = self._bytes // 2 if fmt == "pcm" else self._bytes
        elif fmt == "mp3":
            self._buffer += data
            self._count_mp3()
        else:
            self._buffer += data
            self._count_ogg()
        return self.seconds

    def _count_mp3(self) -> None:
        buf = self._buffer
        pos = 0
        while len(buf) - pos >= 4:
            b1, b2 = buf[pos + 1], buf[pos + 2]
            if buf[pos] != 0xFF or (b1 & 0xE0) != 0xE0:
                pos += 1  # resynchronise (ID3 tags or junk)
                continue
            version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
            bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
            if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
                pos += 1
                continue
            rate = _MP3_RATES[version][rate_index]
            bitrate = _MP3_BITRATES[version][bitrate_index] * 1000
            per_frame = 1152 if version == 3 else 576
            length = per_frame // 8 * bitrate // rate + padding
            if len(buf) - pos < length:
                break
            self._samples += per_frame * self.sample_rate // rate
            pos += length
        del buf[:pos]

    def _count_ogg(self) -> None:
        buf = self._buffer
        pos = 0
        while len(buf) - pos >= _OGG_HEADER.size:
            if buf[pos : pos + 4] != b"OggS":
                nxt = buf.find(b"OggS", pos + 1)
                pos = len(buf) - 3 if nxt < 0 else nxt
                continue
            _, _, _, granule, _, _, _, nsegs = _OGG_HEADER.unpack_from(buf, pos)
            head = _OGG_HEADER.size + nsegs
            if len(buf) - pos < head:
                break
            body = sum(buf[pos + _OGG_HEADER.size : pos + head])
            if len(buf) - pos < head + body:
                break
            payload = bytes(buf[pos + head : pos + head + body])
            if payload.startswith(b"OpusHead") and len(payload) >= 12:
                self._opus_pre_skip = int.from_bytes(payload[10:12], "little")
            if granule >= 0:
                self._granule = granule
            pos += head + body
        del buf[:pos]
