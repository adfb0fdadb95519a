"""Local service layer: output formats, resampling and the streaming audio encoders.

:class:`StreamEncoder` turns 16-bit mono PCM into the bytes Polly streams for each output
format, a sentence at a time: whatever a call to :meth:`~StreamEncoder.encode` can finish goes
out at once, and the concatenation of every call plus :meth:`~StreamEncoder.flush` is one valid
stream. mp3 is raw MPEG audio frames (no ID3 tag, no Xing/Info frame) from LAME without its bit
reservoir, which keeps the held-back audio short; Ogg Vorbis and Ogg Opus are written by a small
Ogg muxer here, so every packet the codec has finished is on a complete page when ``encode``
returns (FFmpeg's ogg muxer holds back its last page). FFmpeg's built-in Vorbis encoder only
writes stereo, so ogg_vorbis carries the mono signal in two identical channels.

What a codec still holds when ``encode`` returns is its look-ahead and part of a frame: under
0.12 s, except at 8 kHz where an mp3 frame lasts 72 ms and a Vorbis block 128 ms (about 0.2 s
held). The offline voice ends each sentence with a 0.3 s pause, so that is all silence.

PyAV leaves FFmpeg's own logging off unless the application turns it on
(``av.logging.set_level``); this module does not touch that process-wide setting.
"""

from __future__ import annotations

import io
import struct
import zlib
from array import array
from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal

import av
import av.error
from av.audio.codeccontext import AudioCodecContext
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler

from polly_pipeline.pcm import downmix
from polly_pipeline.pcm import wav_bytes as pcm_wav_bytes
from polly_pipeline.protocol.params import SAMPLE_RATES, OutputFormat

__all__ = [
    "CONTENT_TYPES",
    "SAMPLE_RATES",
    "OutputFormat",
    "StreamEncoder",
    "decode_audio",
    "duration_seconds",
    "ogg_crc",
    "resample",
    "resolve_sample_rate",
    "wav_bytes",
]

#: The ``Content-Type`` Polly answers SynthesizeSpeech with, per output format.
CONTENT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "mp3": "audio/mpeg",
        "ogg_vorbis": "audio/ogg",
        "ogg_opus": "audio/ogg",
        "pcm": "audio/pcm",
        "mulaw": "audio/basic",
        "alaw": "audio/basic",
    }
)

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
_G711_CODECS: Mapping[str, str] = {"mulaw": "pcm_mulaw", "alaw": "pcm_alaw"}
_CONTAINERS: Mapping[str, str] = {"mp3": "mp3", "ogg_vorbis": "ogg", "ogg_opus": "ogg"}
_VENDOR = b"polly-pipeline"
_OGG_SERIAL = 0x506F6C79  # "Poly": one logical stream per file, so a fixed serial is enough


def resolve_sample_rate(output_format: str, sample_rate: int | None = None) -> int:
    """The sample rate to use: ``sample_rate`` if the format allows it, else its default.

    Raises:
        ValueError: the format is unknown or does not allow ``sample_rate``.
    """
    allowed, default = _rates(output_format)
    if sample_rate is None:
        return default
    if sample_rate not in allowed:
        raise ValueError(
            f"{output_format} audio cannot have a sample rate of {sample_rate} Hz; "
            f"allowed: {', '.join(map(str, allowed))}"
        )
    return sample_rate


def _rates(output_format: str) -> tuple[tuple[int, ...], int]:
    try:
        return SAMPLE_RATES[output_format]
    except KeyError:
        raise ValueError(
            f"unknown output format {output_format!r}; known: {', '.join(SAMPLE_RATES)}"
        ) from None


def duration_seconds(pcm: bytes, sample_rate: int) -> float:
    """How long 16-bit mono PCM at ``sample_rate`` lasts."""
    return len(pcm) // 2 / sample_rate


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """A WAV file holding 16-bit mono PCM."""
    _check_pcm(pcm)
    return pcm_wav_bytes(pcm, sample_rate)


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Convert 16-bit mono PCM between sample rates (FFmpeg's resampler; deterministic)."""
    _check_pcm(pcm)
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, not {from_rate} and {to_rate}")
    if from_rate == to_rate or not pcm:
        return pcm
    resampler = AudioResampler(format="s16", layout="mono", rate=to_rate)
    frames = resampler.resample(_frame(pcm, from_rate, 0))
    frames += resampler.resample(None)
    return b"".join(_pcm_of(frame) for frame in frames)


class StreamEncoder:
    """Encodes 16-bit mono PCM into one output format, a piece at a time.

    Args:
        output_format: one of :data:`OutputFormat`.
        sample_rate: the rate of the PCM fed in and of the audio out; must be allowed for the
            format (see :data:`SAMPLE_RATES`).

    Raises:
        ValueError: unknown format, or a sample rate the format does not allow.
    """

    def __init__(self, output_format: OutputFormat, sample_rate: int) -> None:
        self.sample_rate = resolve_sample_rate(output_format, sample_rate)
        self.output_format: OutputFormat = output_format
        self._fed = 0  # samples
        self._flushed = False
        self._context: AudioCodecContext | None = None
        self._ogg: _OggStream | None = None
        if output_format == "pcm":
            return
        if output_format == "mp3":
            self._context = _open_encoder(
                "libmp3lame",
                sample_rate,
                sample_format="s16p",
                bit_rate=_MP3_BITRATES[sample_rate],
                options={"reservoir": "0"},
            )
        elif output_format in _G711_CODECS:
            self._context = _open_encoder(
                _G711_CODECS[output_format], sample_rate, sample_format="s16"
            )
        elif output_format == "ogg_opus":
            self._context = _open_encoder(
                "libopus", sample_rate, sample_format="s16", bit_rate=_OPUS_BITRATE
            )
            self._ogg = _OggStream.opus(bytes(self._context.extradata or b""))
        else:
            self._context = _open_encoder(
                "vorbis",
                sample_rate,
                sample_format="fltp",
                layout="stereo",  # FFmpeg's Vorbis encoder writes stereo only
                options={"strict": "experimental"},
            )
            self._ogg = _OggStream.vorbis(bytes(self._context.extradata or b""))

    def encode(self, pcm: bytes) -> bytes:
        """Feed 16-bit mono PCM; returns every byte that can be sent now.

        Call once per synthesized sentence: the bytes returned carry all of the audio fed so
        far except what the codec itself still holds (its look-ahead and one frame at most).
        """
        if self._flushed:
            raise RuntimeError("this StreamEncoder was flushed; start a new one")
        _check_pcm(pcm)
        if not pcm:
            return self._ogg.headers() if self._ogg is not None else b""
        if self._context is None:
            self._fed += len(pcm) // 2
            return pcm
        frame = _frame(pcm, self.sample_rate, self._fed, channels=self._context.channels)
        self._fed += len(pcm) // 2
        packets = self._context.encode(frame)
        if self._ogg is None:
            return b"".join(bytes(packet) for packet in packets)
        return self._ogg.pages(packets, end=None)

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
        return self._ogg.pages(packets, end=self._fed)


def decode_audio(data: bytes, output_format: OutputFormat, sample_rate: int) -> bytes:
    """Decode audio of an output format back to 16-bit mono PCM at ``sample_rate``.

    Raises:
        ValueError: the bytes are not audio of that format (the message names it).
    """
    _rates(output_format)
    if not data:
        return b""
    if output_format == "pcm":
        if len(data) % 2:
            raise ValueError("pcm audio must be a whole number of 16-bit samples")
        return data
    decoded: list[AudioFrame] = []
    try:
        if output_format in _G711_CODECS:
            context = _audio_context(_G711_CODECS[output_format], "r")
            context.sample_rate = 8000
            context.layout = "mono"
            decoded = context.decode(av.Packet(data)) + context.decode(None)
        else:
            with av.open(io.BytesIO(data), "r", format=_CONTAINERS[output_format]) as container:
                if not container.streams.audio:
                    raise ValueError(f"no audio stream in the {output_format} data")
                decoded = list(container.decode(container.streams.audio[0]))
        if not decoded:
            raise ValueError(f"no {output_format} audio in {len(data)} bytes")
        # keep the channels through the resampler and average them here: FFmpeg's downmix
        # would lower the level of a mono signal carried in two channels by 3 dB
        channels = decoded[0].layout.nb_channels
        resampler = AudioResampler(format="s16", layout=decoded[0].layout, rate=sample_rate)
        frames = [out for frame in decoded for out in resampler.resample(frame)]
        frames += resampler.resample(None)
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot decode the data as {output_format} audio: {exc}") from exc
    pcm = b"".join(bytes(frame.planes[0])[: frame.samples * 2 * channels] for frame in frames)
    return downmix(pcm, channels)


# --- helpers ---------------------------------------------------------------------------------


def _check_pcm(pcm: bytes) -> None:
    if len(pcm) % 2:
        raise ValueError(f"16-bit PCM must have an even number of bytes, not {len(pcm)}")


def _frame(pcm: bytes, sample_rate: int, pts: int, *, channels: int = 1) -> AudioFrame:
    """A PyAV frame holding 16-bit mono PCM, copied into each of ``channels``.

    Copied here rather than by FFmpeg, whose upmix lowers the level by 3 dB.
    """
    if channels > 1:
        mono = array("h", pcm)
        interleaved = array("h", bytes(len(pcm) * channels))
        for lane in range(channels):
            interleaved[lane::channels] = mono
        pcm = interleaved.tobytes()
    layout = "mono" if channels == 1 else "stereo"
    frame = AudioFrame(format="s16", layout=layout, samples=len(pcm) // 2 // channels)
    plane = frame.planes[0]
    plane.update(pcm.ljust(plane.buffer_size, b"\0"))
    frame.sample_rate = sample_rate
    frame.time_base = Fraction(1, sample_rate)
    frame.pts = pts
    return frame


def _pcm_of(frame: AudioFrame) -> bytes:
    """The samples of a 16-bit mono frame PyAV produced."""
    return bytes(frame.planes[0])[: frame.samples * 2]


def _audio_context(codec: str, mode: Literal["r", "w"]) -> AudioCodecContext:
    context = AudioCodecContext.create(codec, mode)
    if not isinstance(context, AudioCodecContext):  # pragma: no cover - names are audio codecs
        raise TypeError(f"{codec} is not an audio codec")
    return context


def _open_encoder(
    codec: str,
    sample_rate: int,
    *,
    sample_format: str,
    layout: str = "mono",
    bit_rate: int | None = None,
    options: Mapping[str, str] | None = None,
) -> AudioCodecContext:
    context = _audio_context(codec, "w")
    context.sample_rate = sample_rate
    context.layout = layout
    context.format = sample_format
    context.time_base = Fraction(1, sample_rate)
    if bit_rate is not None:
        context.bit_rate = bit_rate
    if options:
        context.options = dict(options)
    context.open()
    return context


# --- Ogg -------------------------------------------------------------------------------------

_BIT_REVERSED = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def ogg_crc(data: bytes) -> int:
    """Ogg's page checksum: CRC-32, polynomial 0x04C11DB7, not reflected, no inversion.

    zlib's CRC-32 is the reflected form of the same polynomial, so reflecting the bytes in and
    the result out gives Ogg's at C speed.
    """
    reflected = zlib.crc32(data.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


class _OggStream:
    """One Ogg logical stream, written page by page (RFC 3533; Vorbis I; RFC 7845 for Opus)."""

    def __init__(self, header_pages: list[list[bytes]], granule_offset: int) -> None:
        self._header_pages = header_pages
        self._granule_offset = granule_offset  # Opus counts its pre-skip in granule positions
        self._sequence = 0
        self._granule = 0
        self._started = False

    @classmethod
    def vorbis(cls, extradata: bytes) -> _OggStream:
        """Vorbis: identification header alone on the first page, comment and setup next."""
        identification, comment, setup = _xiph_unlace(extradata)
        return cls([[identification], [comment, setup]], granule_offset=0)

    @classmethod
    def opus(cls, head: bytes) -> _OggStream:
        """Opus: OpusHead alone on the first page, OpusTags on the second."""
        if not head.startswith(b"OpusHead") or len(head) < 19:
            raise ValueError("the Opus encoder gave no OpusHead")
        (pre_skip,) = struct.unpack_from("<H", head, 10)
        tags = b"OpusTags" + struct.pack("<I", len(_VENDOR)) + _VENDOR + struct.pack("<I", 0)
        return cls([[head], [tags]], granule_offset=pre_skip)

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

    def pages(self, packets: list[av.Packet[Any]], *, end: int | None) -> bytes:
        """Pages holding ``packets``; ``end`` (total samples fed) closes the stream."""
        laced = []
        for packet in packets:
            if packet.pts is not None and packet.duration:
                self._granule = max(self._granule, packet.pts + packet.duration)
            laced.append((bytes(packet), self._granule + self._granule_offset))
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
            flags = (1 if continued else 0) | (2 if first else 0)
            flags |= 4 if last and not segments else 0
            out += self._page(flags, page_granule, chunk, bytes(body[position : position + size]))
            position += size
            continued = bool(chunk) and chunk[-1][1] is None
            first = False
            if not segments:
                return bytes(out)

    def _page(
        self, flags: int, granule: int, segments: list[tuple[int, int | None]], data: bytes
    ) -> bytes:
        header = struct.pack(
            "<4sBBqIIIB",
            b"OggS",
            0,
            flags,
            granule,
            _OGG_SERIAL,
            self._sequence,
            0,
            len(segments),
        ) + bytes(value for value, _ in segments)
        self._sequence += 1
        page = header + data
        return page[:22] + struct.pack("<I", ogg_crc(page)) + page[26:]


def _xiph_unlace(extradata: bytes) -> list[bytes]:
    """Split Xiph-laced codec headers (FFmpeg's Vorbis extradata) into packets."""
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
