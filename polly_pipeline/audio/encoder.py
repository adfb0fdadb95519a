"""Audio layer: the streaming encoders (16-bit mono PCM to each output format).

:class:`StreamEncoder` turns 16-bit mono PCM into the bytes Polly streams for each output
format, a sentence at a time: whatever a call to :meth:`~StreamEncoder.encode` can finish goes
out at once, and the concatenation of every call plus :meth:`~StreamEncoder.flush` is one valid
stream. mp3 is raw MPEG audio frames (no ID3 tag, no Xing/Info frame) from LAME without its bit
reservoir, which keeps the held-back audio short; Ogg Vorbis and Ogg Opus are written by this
layer's Ogg writer, so every packet the codec has finished is on a complete page when
``encode`` returns (FFmpeg's ogg muxer holds back its last page). FFmpeg's built-in Vorbis
encoder only writes stereo, so ogg_vorbis carries the mono signal in two identical channels.

What a codec still holds when ``encode`` returns is its look-ahead and part of a frame: under
0.12 s, except at 8 kHz where an mp3 frame lasts 72 ms and a Vorbis block 128 ms (about 0.2 s
held). The local service's offline voice ends each sentence with a 0.3 s pause, so that is
all silence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from polly_pipeline.audio.codecs import G711_CODECS, open_encoder, pcm_frame
from polly_pipeline.audio.formats import OutputFormat, resolve_sample_rate
from polly_pipeline.audio.ogg import OggWriter
from polly_pipeline.audio.pcm import check_pcm
from polly_pipeline.audio.xiph import opus_writer, vorbis_writer
from polly_pipeline.errors import StreamStateError

if TYPE_CHECKING:
    import av
    from av.audio.codeccontext import AudioCodecContext

__all__ = ["StreamEncoder"]

# CBR mp3 bitrates (bit/s) per sample rate: speech-grade, like Polly's 48 kbit/s at 24 kHz
_MP3_BITRATES: Mapping[int, int] = {
    8000: 24_000,
    16000: 32_000,
    22050: 48_000,
    24000: 48_000,
    44100: 64_000,
    48000: 64_000,
}
_OPUS_BITRATE = 32_000


class StreamEncoder:
    """Encodes 16-bit mono PCM into one output format, a piece at a time.

    Args:
        output_format: one of :data:`~polly_pipeline.audio.formats.OutputFormat`.
        sample_rate: the rate of the PCM fed in and of the audio out; must be allowed for the
            format (see :data:`~polly_pipeline.audio.formats.SAMPLE_RATES`).

    Raises:
        ConfigurationError: unknown format, or a sample rate the format does not allow.
    """

    def __init__(self, output_format: OutputFormat, sample_rate: int) -> None:
        self.sample_rate = resolve_sample_rate(output_format, sample_rate)
        self.output_format: OutputFormat = output_format
        self._fed = 0  # samples
        self._flushed = False
        self._context: AudioCodecContext | None = None
        self._ogg: OggWriter | None = None
        if output_format == "pcm":
            return
        if output_format == "mp3":
            self._context = open_encoder(
                "libmp3lame",
                sample_rate,
                sample_format="s16p",
                bit_rate=_MP3_BITRATES[sample_rate],
                options={"reservoir": "0"},
            )
        elif output_format in G711_CODECS:
            self._context = open_encoder(
                G711_CODECS[output_format], sample_rate, sample_format="s16"
            )
        elif output_format == "ogg_opus":
            self._context = open_encoder(
                "libopus", sample_rate, sample_format="s16", bit_rate=_OPUS_BITRATE
            )
            self._ogg = opus_writer(bytes(self._context.extradata or b""))
        else:
            self._context = open_encoder(
                "vorbis",
                sample_rate,
                sample_format="fltp",
                layout="stereo",  # FFmpeg's Vorbis encoder writes stereo only
                options={"strict": "experimental"},
            )
            self._ogg = vorbis_writer(bytes(self._context.extradata or b""))

    def __repr__(self) -> str:
        return f"<StreamEncoder {self.output_format}/{self.sample_rate} Hz, {self._fed} samples>"

    def encode(self, pcm: bytes) -> bytes:
        """Feed 16-bit mono PCM; returns every byte that can be sent now.

        Call once per synthesized sentence: the bytes returned carry all of the audio fed so
        far except what the codec itself still holds (its look-ahead and one frame at most).

        Raises:
            ConfigurationError: ``pcm`` is not whole 16-bit samples.
            StreamStateError: the encoder was flushed.
        """
        if self._flushed:
            raise StreamStateError("this StreamEncoder was flushed; start a new one")
        check_pcm(pcm)
        if not pcm:
            return self._ogg.headers() if self._ogg is not None else b""
        if self._context is None:
            self._fed += len(pcm) // 2
            return pcm
        frame = pcm_frame(pcm, self.sample_rate, self._fed, channels=self._context.channels)
        self._fed += len(pcm) // 2
        packets = self._context.encode(frame)
        if self._ogg is None:
            return b"".join(bytes(packet) for packet in packets)
        return self._ogg.pages(_positioned(packets), end=None)

    def flush(self) -> bytes:
        """End the stream: returns what the codec still held, with any trailer."""
        if self._flushed:
            return b""
        self._flushed = True
        if self._context is None:
            return b""
        if not self._fed:  # nothing was encoded (flushing an unused encoder can hang FFmpeg)
            return self._ogg.pages([], end=0) if self._ogg and self._ogg.started else b""
        packets = self._context.encode(None)
        if self._ogg is None:
            return b"".join(bytes(packet) for packet in packets)
        return self._ogg.pages(_positioned(packets), end=self._fed)


def _positioned(packets: Sequence[av.Packet[Any]]) -> list[tuple[bytes, int | None]]:
    """Each packet's bytes and the sample position at its end (None when unknown)."""
    return [
        (bytes(p), p.pts + p.duration if p.pts is not None and p.duration else None)
        for p in packets
    ]
