"""Audio layer: how many seconds of audio a byte stream holds, without decoding it.

Exact for every format Polly produces: PCM and G.711 by byte count, MP3 by counting MPEG
frames (each frame header gives its length and sample count), Ogg (Vorbis and Opus) by the
granule position of the last complete page. Cheap enough to run on every chunk; the session
uses it for its resume point and its pacing, so it must agree with what a decoder makes of
the same bytes (the tests hold it to the decoder's duration within one frame).
"""

from __future__ import annotations

from polly_pipeline.audio.formats import format_info
from polly_pipeline.audio.ogg import OggPageReader

__all__ = ["AudioClock"]

# MPEG audio Layer III: bitrates (kbit/s) by version, and sample rates by version
_MP3_BITRATES = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2
    0: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2.5
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_OPUS_RATE = 48000  # Opus granule positions always count 48 kHz


class AudioClock:
    """Counts the seconds of audio in an encoded stream fed chunk by chunk.

    Args:
        output_format: the stream's format (one of the output formats).
        sample_rate: its sample rate.

    Raises:
        ConfigurationError: an unknown output format.
    """

    def __init__(self, output_format: str, sample_rate: int) -> None:
        self._bytes_per_sample = format_info(output_format).bytes_per_sample
        self.output_format = output_format
        self.sample_rate = sample_rate
        self._samples = 0
        self._bytes = 0
        self._buffer = bytearray()
        self._ogg: OggPageReader | None = None
        if output_format in ("ogg_vorbis", "ogg_opus"):
            self._ogg = OggPageReader(output_format, check_crc=False, resync=True)
        self._opus_pre_skip = 0
        self._granule = 0

    def __repr__(self) -> str:
        return f"<AudioClock {self.output_format}/{self.sample_rate} Hz {self.seconds:.3f} s>"

    @property
    def seconds(self) -> float:
        """Seconds of audio in everything fed so far (complete frames or pages only)."""
        if self._ogg is not None:
            rate = _OPUS_RATE if self.output_format == "ogg_opus" else self.sample_rate
            return max(0, self._granule - self._opus_pre_skip) / rate
        return self._samples / self.sample_rate

    def feed(self, data: bytes) -> float:
        """Account for ``data``; returns the new total in seconds."""
        if self._bytes_per_sample is not None:
            self._bytes += len(data)
            self._samples = self._bytes // self._bytes_per_sample
        elif self._ogg is not None:
            self._count_ogg(data)
        else:
            self._buffer += data
            self._count_mp3()
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

    def _count_ogg(self, data: bytes) -> None:
        assert self._ogg is not None
        for page in self._ogg.feed(data):
            if page.body.startswith(b"OpusHead") and len(page.body) >= 12:
                self._opus_pre_skip = int.from_bytes(page.body[10:12], "little")
            if page.granule >= 0:
                self._granule = page.granule
