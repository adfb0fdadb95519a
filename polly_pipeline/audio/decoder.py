"""Audio layer: decode streamed audio to PCM a piece at a time.

:class:`StreamDecoder` takes the bytes of one audio stream in pieces of any size (as chunks
arrive from a session) and returns the 16-bit little-endian mono PCM that can be decoded so
far; :meth:`~StreamDecoder.flush` returns the rest at the end. :func:`decode_audio` is the
same decoder run over a whole buffer.

- ``pcm`` passes through (a 16-bit sample split between pieces is joined).
- ``mulaw`` and ``alaw`` are expanded byte by byte (FFmpeg's G.711 tables).
- ``mp3`` goes through FFmpeg's mp3 parser and decoder (PyAV), which keep partial frames.
- ``ogg_vorbis`` and ``ogg_opus`` are demuxed by the Ogg reader of this layer (FFmpeg's
  demuxer wants a whole seekable file), which checks every page's CRC and reassembles
  packets across pages; the end is trimmed to the last page's granule position as Ogg
  requires. Multichannel audio (the local service's Vorbis is stereo) is averaged to mono.

Bytes that are not audio of the format raise :class:`~polly_pipeline.errors.AudioDecodeError`
naming the format; an unknown format or sample rate raises
:class:`~polly_pipeline.errors.ConfigurationError`. PyAV is imported only when a compressed
format is decoded.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

from polly_pipeline.audio.chunk import AudioFormat
from polly_pipeline.audio.codecs import G711_CODECS, audio_context, frame_pcm, g711_table
from polly_pipeline.audio.formats import FORMATS, format_info
from polly_pipeline.audio.ogg import OggPacketReader
from polly_pipeline.audio.pcm import downmix
from polly_pipeline.audio.xiph import OggHeaders
from polly_pipeline.errors import AudioDecodeError, ConfigurationError, StreamStateError

if TYPE_CHECKING:
    from av.audio.codeccontext import AudioCodecContext
    from av.audio.frame import AudioFrame
    from av.audio.resampler import AudioResampler

__all__ = ["StreamDecoder", "decode_audio"]

#: A compressed stream that yields no audio after this many bytes is not audio of its format
#: (an mp3 frame, or an Ogg page, is far smaller).
_GIVE_UP_AFTER = 256 * 1024


class StreamDecoder:
    """Decodes one audio stream to 16-bit little-endian mono PCM, piece by piece.

    Args:
        fmt: the stream's format.
        output_rate: the rate of the PCM out (``fmt.sample_rate`` if None); compressed
            formats are resampled to it, pcm and G.711 keep their own.

    Raises:
        ConfigurationError: an unknown output format, a rate the format does not allow, or
            an ``output_rate`` an uncompressed format cannot have.
    """

    def __init__(self, fmt: AudioFormat, *, output_rate: int | None = None) -> None:
        info = FORMATS.get(fmt.output_format)
        if info is None:
            raise ConfigurationError(
                f"cannot decode {fmt.output_format!r} audio; known formats: {', '.join(FORMATS)}"
            )
        if fmt.sample_rate not in info.sample_rates:
            raise ConfigurationError(
                f"{fmt.output_format} audio cannot have a sample rate of {fmt.sample_rate} Hz; "
                f"allowed: {', '.join(map(str, info.sample_rates))}"
            )
        rate = fmt.sample_rate if output_rate is None else output_rate
        if rate <= 0 or (rate != fmt.sample_rate and not info.compressed):
            raise ConfigurationError(
                f"cannot decode {fmt.output_format} audio to {rate} Hz; "
                f"it stays at {fmt.sample_rate} Hz"
            )
        self.format = fmt
        self._rate = rate
        self._fed = 0
        self._out_samples = 0
        self._flushed = False
        self._odd = b""  # pcm: half a sample held for the next piece
        self._table: array[int] | None = None
        self._codec: _CodecDecoder | None = None
        if fmt.output_format in G711_CODECS:
            self._table = g711_table(fmt.output_format)
        elif info.compressed:
            self._codec = _CodecDecoder(fmt.output_format, rate)

    def __repr__(self) -> str:
        return (
            f"<StreamDecoder {self.format.output_format}/{self.format.sample_rate} Hz, "
            f"{self._fed} bytes in, {self._out_samples} samples out>"
        )

    @property
    def sample_rate(self) -> int:
        """The sample rate of the PCM returned."""
        return self._rate

    @property
    def samples_out(self) -> int:
        """How many samples were returned so far."""
        return self._out_samples

    @property
    def seconds_out(self) -> float:
        """How many seconds of audio were returned so far."""
        return self._out_samples / self._rate

    def feed(self, data: bytes) -> bytes:
        """Take the next piece of the stream; returns the PCM that can be decoded now.

        Raises:
            AudioDecodeError: the bytes are not audio of the decoder's format.
            StreamStateError: the decoder was flushed.
        """
        if self._flushed:
            raise StreamStateError("this StreamDecoder was flushed; start a new one")
        self._fed += len(data)
        if self._codec is not None:
            pcm = self._codec.feed(data)
        elif self._table is not None:
            table = self._table
            pcm = array("h", [table[byte] for byte in data]).tobytes()
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


def decode_audio(data: bytes, output_format: str, sample_rate: int) -> bytes:
    """Decode a whole buffer of audio to 16-bit mono PCM at ``sample_rate``.

    Compressed formats are resampled to ``sample_rate`` when the stream has another rate.

    Raises:
        ConfigurationError: an unknown format, or a rate pcm or G.711 cannot have.
        AudioDecodeError: the bytes are not audio of that format (the message names it).
    """
    info = format_info(output_format)
    stream_rate = sample_rate if sample_rate in info.sample_rates else info.default_rate
    decoder = StreamDecoder(AudioFormat(output_format, stream_rate), output_rate=sample_rate)
    return decoder.feed(data) + decoder.flush()


class _CodecDecoder:
    """mp3 (FFmpeg's parser) or Ogg (this layer's reader) into a PyAV decoder."""

    def __init__(self, output_format: str, rate: int) -> None:
        self.output_format = output_format
        self._rate = rate
        self._fed = 0
        self._decoded = 0  # samples out of the resampler
        self._resampler: AudioResampler | None = None
        self._channels = 1
        self._ogg: OggPacketReader | None = None
        self._headers: OggHeaders | None = None
        self._context: AudioCodecContext | None = None
        if output_format == "mp3":
            # FFmpeg's default mp3 decoder (what its demuxer picks), for the same samples
            self._context = audio_context("mp3float")
        else:
            self._ogg = OggPacketReader(output_format)
            self._headers = OggHeaders(output_format)

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
        return AudioDecodeError(f"cannot decode the data as {self.output_format}: {detail}")

    def _run(self, data: bytes | None) -> bytes:
        import av  # noqa: PLC0415 - PyAV is heavy; only decoding needs it
        import av.error  # noqa: PLC0415

        frames: list[AudioFrame] = []
        try:
            for packet in self._packets(data):
                assert self._context is not None
                frames += self._context.decode(av.Packet(packet))
            if data is None and self._context is not None:
                frames += self._context.decode(None)
            pcm = b"".join(self._resample(frame) for frame in frames)
            if data is None and self._resampler is not None:
                pcm += b"".join(
                    frame_pcm(f, self._channels) for f in self._resampler.resample(None)
                )
        except av.error.FFmpegError as exc:
            raise self._not_audio(str(exc)) from exc
        return self._trim(downmix(pcm, self._channels))

    def _packets(self, data: bytes | None) -> Iterator[bytes]:
        """The codec packets completed by ``data`` (None: the end of the stream)."""
        if self._ogg is None:
            assert self._context is not None
            # FFmpeg's parser keeps a partial frame until the next call; None flushes it
            yield from (bytes(parsed) for parsed in self._context.parse(data))
            return
        assert self._headers is not None
        if data is None:
            self._ogg.finish()
            return
        for packet in self._ogg.feed(data):
            if not self._headers.complete:
                self._headers.add(packet)
                continue
            if self._context is None:  # the codec headers have been read
                self._context = audio_context("opus" if "opus" in self.output_format else "vorbis")
                self._context.extradata = self._headers.extradata()
            yield packet

    def _resample(self, frame: AudioFrame) -> bytes:
        if self._resampler is None:
            from av.audio.resampler import AudioResampler  # noqa: PLC0415

            # keep the channels and average them afterwards: FFmpeg's downmix lowers a
            # mono signal carried in two channels by 3 dB
            self._channels = frame.layout.nb_channels
            self._resampler = AudioResampler(format="s16", layout=frame.layout, rate=self._rate)
        return b"".join(frame_pcm(out, self._channels) for out in self._resampler.resample(frame))

    def _trim(self, pcm: bytes) -> bytes:
        count = len(pcm) // 2
        if self._ogg is not None and self._ogg.end_granule is not None:
            assert self._headers is not None
            # the last page's granule position says where the audio ends (codec's rate)
            rate = self._headers.sample_rate or self._rate
            end = max(0, self._ogg.end_granule - self._headers.granule_offset)
            count = max(0, min(count, end * self._rate // rate - self._decoded))
        self._decoded += count
        return pcm[: count * 2]
