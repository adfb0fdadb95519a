"""Browser sink plugin: turn a turn's audio chunks into whole 16-bit PCM samples for the page.

The page plays 16-bit little-endian mono PCM. ``pcm`` chunks pass through (a sample split
across two chunks is carried over); other formats are decoded here, on the server, with the
core's incremental :class:`polly_pipeline.sinks.StreamDecoder` when the installed
polly-pipeline has it. Without it only ``pcm`` is accepted, with an error that says so.
"""

from __future__ import annotations

from typing import Protocol, cast

import polly_pipeline.sinks
from polly_pipeline.audio import AudioFormat
from polly_pipeline.errors import ConfigurationError

__all__ = ["PcmConverter", "converter_for"]


class _Decoder(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _DecoderFactory(Protocol):
    def __call__(self, fmt: AudioFormat, /) -> _Decoder: ...


class PcmConverter:
    """Incremental: ``feed(chunk bytes) -> whole samples``, ``flush() -> the rest``.

    Args:
        fmt: the audio format of the turn.
        decoder: an incremental decoder to PCM for compressed formats (None for pcm).
    """

    def __init__(self, fmt: AudioFormat, decoder: _Decoder | None = None) -> None:
        self.format = fmt
        self._decoder = decoder
        self._partial = b""
        #: The sample rate of the PCM produced.
        self.sample_rate = int(getattr(decoder, "sample_rate", None) or fmt.sample_rate)

    def feed(self, data: bytes) -> bytes:
        """The whole samples ``data`` completes (possibly none)."""
        if self._decoder is not None:
            data = self._decoder.feed(data)
        return self._whole(data)

    def flush(self) -> bytes:
        """What is left at the end of the turn (a decoder's last frames); may be empty."""
        data = self._decoder.flush() if self._decoder is not None else b""
        out = self._whole(data)
        self._partial = b""  # half a sample at the very end is silence, not audio
        return out

    def _whole(self, data: bytes) -> bytes:
        data = self._partial + data
        cut = len(data) - len(data) % 2
        data, self._partial = data[:cut], data[cut:]
        return data


def _stream_decoder() -> _DecoderFactory | None:
    """The core's StreamDecoder class, when the installed polly-pipeline has one."""
    factory = getattr(polly_pipeline.sinks, "StreamDecoder", None)
    return cast("_DecoderFactory", factory) if callable(factory) else None


def converter_for(fmt: AudioFormat) -> PcmConverter:
    """A converter from ``fmt`` to 16-bit PCM for the page.

    Raises:
        ConfigurationError: the format is not pcm and cannot be decoded here.
    """
    if fmt.output_format == "pcm":
        return PcmConverter(fmt)
    factory = _stream_decoder()
    if factory is None:
        raise ConfigurationError(
            f"the browser sink plays pcm audio, not {fmt.output_format}: synthesize with "
            "output_format='pcm' (e.g. SpeechSession(client, voice_id=..., "
            "output_format='pcm')), or install a polly-pipeline that has "
            "polly_pipeline.sinks.StreamDecoder to decode other formats"
        )
    try:
        decoder = factory(fmt)
    except ConfigurationError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"the browser sink cannot decode {fmt.output_format} audio: {exc}; "
            "use output_format='pcm'"
        ) from exc
    return PcmConverter(fmt, decoder)
