"""Pipeline layer: decode streamed audio to PCM a piece at a time, for players.

:class:`StreamDecoder` takes the bytes of one audio stream in pieces of any size (as chunks
arrive from a session) and returns the 16-bit little-endian mono PCM that can be decoded so
far; :meth:`~StreamDecoder.flush` returns the rest at the end. The concatenated output equals
what :func:`polly_pipeline.local.audio.decode_audio` makes of the whole buffer.

- ``pcm`` passes through (a 16-bit sample split between pieces is joined).
- ``mulaw`` and ``alaw`` are expanded byte by byte (FFmpeg's G.711 tables).
- ``mp3`` goes through FFmpeg's mp3 parser and decoder (PyAV), which keep partial frames.
- ``ogg_vorbis`` and ``ogg_opus`` are demuxed by a small Ogg page reader here (FFmpeg's
  demuxer wants a whole seekable file), which checks every page's CRC, reassembles packets
  across pages, builds the codec headers, and trims the end to the last page's granule
  position as Ogg requires. Multichannel audio (the local service's Vorbis is stereo) is
  averaged to mono.

Bytes that are not audio of the format raise :class:`~polly_pipeline.errors.AudioDecodeError`
naming the format; an unknown format or sample rate raises
:class:`~polly_pipeline.errors.ConfigurationError`. PyAV is imported only when a compressed
format is decoded.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

from polly_pipeline.errors import AudioDecodeError, ConfigurationError
from polly_pipeline.pcm import downmix
from polly_pipeline.protocol.params import SAMPLE_RATES
from polly_pipeline.session.chunks import AudioFormat

if TYPE_CHECKING:
    from av.audio.codeccontext import AudioCodecContext
    from av.audio.frame import AudioFrame
    from av.audio.resampler import AudioResampler

__all__ = ["StreamDecoder"]

#: A compressed stream that yields no audio after this many bytes is not audio of its format
#: (an mp3 frame, or an Ogg page, is far smaller).
_GIVE_UP_AFTER = 256 * 1024
_G711_CODECS = {"mulaw": "pcm_mulaw", "alaw": "pcm_alaw"}
_OGG_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, n


class StreamDecoder:
    """Decodes one audio stream to 16-bit little-endian mono PCM, piece by piece.

    Args:
        fmt: the stream's format; the PCM out has ``fmt.sample_rate``.

    Raises:
        ConfigurationError: an unknown output format, or a rate the format does not allow.
    """

    def __init__(self, fmt: AudioFormat) -> None:
        allowed = SAMPLE_RATES.get(fmt.output_format)
        if allowed is None:
            raise ConfigurationError(
                f"cannot decode {fmt.output_format!r} audio; known formats: "
                f"{', '.join(SAMPLE_RATES)}"
            )
        if fmt.sample_rate not in allowed[0]:
            raise ConfigurationError(
                f"{fmt.output_format} audio cannot have a sample rate of {fmt.sample_rate} Hz; "
                f"allowed: {', '.join(map(str, allowed[0]))}"
            )
        self.format = fmt
        self._fed = 0
        self._out_samples = 0
        self._flushed = False
        self._odd = b""  # pcm: half a sample held for the next piece
        self._table: array[int] | None = None
        self._codec: _CodecDecoder | None = None
        if fmt.output_format in _G711_CODECS:
            self._table = _g711_table(_G711_CODECS[fmt.output_format])
        elif fmt.output_format != "pcm":
            self._codec = _CodecDecoder(fmt)

    def __repr__(self) -> str:
        return (
            f"<StreamDecoder {self.format.output_format}/{self.format.sample_rate} Hz, "
            f"{self._fed} bytes in, {self._out_samples} samples out>"
        )

    @property
    def sample_rate(self) -> int:
        """The sample rate of the PCM returned."""
        return self.format.sample_rate

    @property
    def samples_out(self) -> int:
        """How many samples were returned so far."""
        return self._out_samples

    def feed(self, data: bytes) -> bytes:
        """Take the next piece of the stream; returns the PCM that can be decoded now.

        Raises:
            AudioDecodeError: the bytes are not audio of the decoder's format.
            StreamStateError: the decoder was flushed.
        """
        self._check_open()
        self._fed += len(data)
        if self._codec is not None:
            pcm = self._codec.feed(data)
        elif self._table is not None:
            pcm = _expand(data, self._table)
        else:
            data = self._odd + data
            cut = len(data) - len(data) % 2
            pcm, self._odd = data[:cut], data[cut:]
        self._out_samples += len(pcm) // 2
        return pcm

    def flush(self) -> bytes:
        """End the stream; returns the PCM still held. Later calls return nothing.

        Raises:
            AudioDecodeError: the stream ends inside a sample, or held no audio of its format.
        """
        if self._flushed:
            return b""
        self._flushed = True
        if self._codec is not None:
            pcm = self._codec.flush()
        elif self._odd:
            raise AudioDecodeError(
                "the pcm stream ended inside a 16-bit sample (an odd number of bytes)"
            )
        else:
            pcm = b""
        self._out_samples += len(pcm) // 2
        return pcm

    def _check_open(self) -> None:
        if self._flushed:
            from polly_pipeline.errors import StreamStateError  # noqa: PLC0415

            raise StreamStateError("this StreamDecoder was flushed; start a new one")


# --- G.711 -----------------------------------------------------------------------------------


def _g711_table(codec: str) -> array[int]:
    """The 16-bit sample for each of the 256 byte values, from FFmpeg's decoder."""
    cached = _G711_TABLES.get(codec)
    if cached is not None:
        return cached
    import av  # noqa: PLC0415 - PyAV is heavy; only decoding needs it

    context = _audio_context(codec)
    context.sample_rate = 8000
    context.layout = "mono"
    frames = context.decode(av.Packet(bytes(range(256)))) + context.decode(None)
    table = array("h", b"".join(bytes(f.planes[0])[: f.samples * 2] for f in frames))
    if len(table) != 256:  # pragma: no cover - FFmpeg decodes one sample per byte
        raise RuntimeError(f"the {codec} decoder gave {len(table)} samples for 256 bytes")
    _G711_TABLES[codec] = table
    return table


_G711_TABLES: dict[str, array[int]] = {}


def _expand(data: bytes, table: array[int]) -> bytes:
    return array("h", [table[byte] for byte in data]).tobytes()


# --- compressed formats (PyAV) ---------------------------------------------------------------


class _CodecDecoder:
    """mp3 (FFmpeg's parser) or Ogg (the page reader below) into a PyAV decoder."""

    def __init__(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self._fed = 0
        self._decoded = 0  # samples out of the resampler
        self._resampler: AudioResampler | None = None
        self._channels = 1
        self._ogg: _OggReader | None = None
        self._context: AudioCodecContext | None = None
        if fmt.output_format == "mp3":
            # FFmpeg's default mp3 decoder (what its demuxer picks), for the same samples
            self._context = _audio_context("mp3float")
        else:
            self._ogg = _OggReader(fmt.output_format)

    def feed(self, data: bytes) -> bytes:
        self._fed += len(data)
        out = self._run(data)
        if not self._decoded and not out and self._fed > _GIVE_UP_AFTER:
            raise self._not_audio(f"no audio in the first {self._fed} bytes")
        return out

    def flush(self) -> bytes:
        out = self._run(None)
        if self._fed and not self._decoded:
            raise self._not_audio(f"no audio in {self._fed} bytes")
        return out

    def _not_audio(self, detail: str) -> AudioDecodeError:
        return AudioDecodeError(f"cannot decode the data as {self.format.output_format}: {detail}")

    def _run(self, data: bytes | None) -> bytes:
        import av  # noqa: PLC0415 - PyAV is heavy; only decoding needs it
        import av.error  # noqa: PLC0415

        frames: list[AudioFrame] = []
        try:
            for packet in self._packets(data):
                frames += self._decode(packet)
            if data is None and self._context is not None:
                frames += self._context.decode(None)
            pcm = b"".join(self._resample(frame) for frame in frames)
            if data is None and self._resampler is not None:
                pcm += b"".join(self._samples(f) for f in self._resampler.resample(None))
        except av.error.FFmpegError as exc:
            raise self._not_audio(str(exc)) from exc
        return self._trim(downmix(pcm, self._channels))

    def _packets(self, data: bytes | None) -> Iterator[bytes]:
        """The codec packets completed by ``data`` (None: the end of the stream)."""
        if self._ogg is None:
            assert self._context is not None
            # FFmpeg's parser keeps a partial frame until the next call; None flushes it
            yield from (bytes(parsed) for parsed in self._context.parse(data))
        elif data is None:
            self._ogg.finish()
        else:
            for packet in self._ogg.feed(data):
                if self._context is None:  # the codec headers have been read
                    self._context = self._ogg.context()
                yield packet

    def _decode(self, packet: bytes) -> list[AudioFrame]:
        import av  # noqa: PLC0415

        assert self._context is not None
        return self._context.decode(av.Packet(packet))

    def _resample(self, frame: AudioFrame) -> bytes:
        if self._resampler is None:
            from av.audio.resampler import AudioResampler  # noqa: PLC0415

            # keep the channels and average them afterwards, as decode_audio does: FFmpeg's
            # downmix lowers a mono signal carried in two channels by 3 dB
            self._channels = frame.layout.nb_channels
            self._resampler = AudioResampler(
                format="s16", layout=frame.layout, rate=self.format.sample_rate
            )
        return b"".join(self._samples(out) for out in self._resampler.resample(frame))

    def _samples(self, frame: AudioFrame) -> bytes:
        return bytes(frame.planes[0])[: frame.samples * 2 * self._channels]

    def _trim(self, pcm: bytes) -> bytes:
        count = len(pcm) // 2
        if self._ogg is not None and self._ogg.end_granule is not None:
            # the last page's granule position says where the audio ends (codec's rate)
            rate = self._ogg.sample_rate or self.format.sample_rate
            end = max(0, self._ogg.end_granule - self._ogg.granule_offset)
            count = max(0, min(count, end * self.format.sample_rate // rate - self._decoded))
        self._decoded += count
        return pcm[: count * 2]


def _audio_context(codec: str) -> AudioCodecContext:
    from av.audio.codeccontext import AudioCodecContext  # noqa: PLC0415

    context = AudioCodecContext.create(codec, "r")
    if not isinstance(context, AudioCodecContext):  # pragma: no cover - names are audio codecs
        raise TypeError(f"{codec} is not an audio codec")
    return context


# --- Ogg -------------------------------------------------------------------------------------


class _OggReader:
    """Reads one logical Ogg stream (RFC 3533) page by page; yields its audio packets.

    The codec headers (Vorbis: three packets; Opus: OpusHead and OpusTags) are kept to set up
    the decoder and not yielded. :attr:`end_granule` is set once the last page (EOS) is read.
    """

    def __init__(self, output_format: str) -> None:
        self.output_format = output_format
        self._buffer = bytearray()
        self._partial = bytearray()  # a packet continued on the next page
        self._headers: list[bytes] = []
        self._serial: int | None = None
        self._sequence = -1
        self._ended = False
        self.end_granule: int | None = None
        self.granule_offset = 0  # Opus: granule positions include the pre-skip
        self.sample_rate: int | None = None

    def _error(self, detail: str) -> AudioDecodeError:
        return AudioDecodeError(f"cannot decode the data as {self.output_format}: {detail}")

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Take bytes; yields each audio packet completed by them."""
        self._buffer += data
        while True:
            page = self._next_page()
            if page is None:
                return
            yield from self._packets_of(*page)

    def finish(self) -> None:
        """The stream is over: fail if it stopped inside a page or a packet."""
        if self._buffer:
            raise self._error(f"the stream ends inside an Ogg page ({len(self._buffer)} bytes)")
        if self._partial:
            raise self._error("the stream ends inside a packet continued on a missing page")

    def context(self) -> AudioCodecContext:
        """A decoder set up from the codec headers read so far."""
        if self.output_format == "ogg_opus":
            context = _audio_context("opus")
            context.extradata = self._headers[0]
        else:
            identification, comment, setup = self._headers
            context = _audio_context("vorbis")
            context.extradata = (
                b"\x02" + _xiph_lace(len(identification)) + _xiph_lace(len(comment))
                + identification + comment + setup
            )  # fmt: skip
        return context

    def _next_page(self) -> tuple[int, int, list[int], bytes] | None:
        """The next whole page in the buffer: flags, granule, lacing values, body."""
        buffer = self._buffer
        if len(buffer) < _OGG_HEADER.size:
            return None
        capture, version, flags, granule, serial, sequence, crc, count = _OGG_HEADER.unpack_from(
            buffer
        )
        if capture != b"OggS" or version != 0:
            where = "at the start" if self._sequence < 0 else "after page " + str(self._sequence)
            raise self._error(f"no Ogg page {where} (found {bytes(buffer[:4])!r})")
        header_size = _OGG_HEADER.size + count
        if len(buffer) < header_size:
            return None
        lacing = list(buffer[_OGG_HEADER.size : header_size])
        size = header_size + sum(lacing)
        if len(buffer) < size:
            return None
        page = bytes(buffer[:size])
        del buffer[:size]
        from polly_pipeline.local.audio import ogg_crc  # noqa: PLC0415

        if ogg_crc(page[:22] + b"\0\0\0\0" + page[26:]) != crc:
            raise self._error(f"Ogg page {sequence} fails its checksum")
        if self._ended:
            raise self._error("an Ogg page follows the end of the stream")
        if self._serial is None:
            self._serial = serial
        elif serial != self._serial:
            raise self._error("more than one logical Ogg stream (chained or multiplexed)")
        if self._sequence >= 0 and sequence != self._sequence + 1:
            raise self._error(f"Ogg page {self._sequence + 1} is missing (got {sequence})")
        self._sequence = sequence
        if flags & 4:
            self._ended = True
            self.end_granule = granule
        return flags, granule, lacing, page[header_size:]

    def _packets_of(
        self, flags: int, granule: int, lacing: list[int], body: bytes
    ) -> Iterator[bytes]:
        if not flags & 1 and self._partial:
            raise self._error("a packet is cut off: the next page does not continue it")
        if flags & 1 and not self._partial:
            raise self._error("the first page continues a packet that never started")
        position = 0
        for value in lacing:
            self._partial += body[position : position + value]
            position += value
            if value < 255:
                packet = bytes(self._partial)
                self._partial.clear()
                if len(self._headers) < self._header_count():
                    self._header(packet)
                    continue
                yield packet

    def _header_count(self) -> int:
        return 2 if self.output_format == "ogg_opus" else 3

    def _header(self, packet: bytes) -> None:
        index = len(self._headers)
        if self.output_format == "ogg_opus":
            expected = (b"OpusHead", b"OpusTags")[index]
        else:
            expected = (b"\x01vorbis", b"\x03vorbis", b"\x05vorbis")[index]
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
        self._headers.append(packet)


def _xiph_lace(size: int) -> bytes:
    return b"\xff" * (size // 255) + bytes([size % 255])
