"""Audio layer: the output formats Polly produces, and every fact about them in one table.

Each :class:`FormatInfo` holds what the rest of the package needs to know about a format:
the sample rates Polly allows and its default (from SynthesizeSpeech; the bidirectional
stream documents none), the file extensions that hold it, the ``Content-Type`` Polly answers
with, its channels and, for uncompressed formats, its bytes per sample (so its byte rate).
Everything else (the clock, the decoder, the encoders, the sinks, parameter validation)
reads this table instead of keeping its own copy.

This module is the bottom of the audio layer: it imports only the standard library and
:mod:`polly_pipeline.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from polly_pipeline.errors import ConfigurationError

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "SAMPLE_RATES",
    "SUFFIX_FORMATS",
    "FormatInfo",
    "OutputFormat",
    "format_info",
    "resolve_sample_rate",
]

OutputFormat = Literal["mp3", "ogg_vorbis", "ogg_opus", "pcm", "mulaw", "alaw"]


@dataclass(frozen=True)
class FormatInfo:
    """The facts about one output format.

    Attributes:
        name: the ``OutputFormat`` value (``mp3``, ``ogg_vorbis``...).
        sample_rates: the rates Polly allows, in Hz, ascending.
        default_rate: the rate when none is asked for (generative voices).
        extensions: file suffixes that hold this format, the usual one first (``.mp3``).
        content_type: what Polly's SynthesizeSpeech answers with.
        bytes_per_sample: 2 for 16-bit PCM, 1 for G.711, None for compressed formats.
        channels: channels of the audio Polly sends (always mono).
        wav_tag: the WAVE format tag a WAV file holding it carries (None: no WAV form).
    """

    name: OutputFormat
    sample_rates: tuple[int, ...]
    default_rate: int
    extensions: tuple[str, ...]
    content_type: str
    bytes_per_sample: int | None = None
    channels: int = 1
    wav_tag: int | None = None

    @property
    def extension(self) -> str:
        """The usual file suffix, with its dot (``.mp3``)."""
        return self.extensions[0]

    @property
    def compressed(self) -> bool:
        """Whether the bytes are a codec's frames (no fixed byte rate)."""
        return self.bytes_per_sample is None

    def bytes_per_second(self, sample_rate: int) -> int | None:
        """The exact byte rate at ``sample_rate``; None for compressed formats."""
        if self.bytes_per_sample is None:
            return None
        return self.bytes_per_sample * self.channels * sample_rate


_COMPRESSED_RATES = (8000, 16000, 22050, 24000, 44100, 48000)

#: Every output format the bidirectional stream produces, by name (``json`` speech marks,
#: in the service model's enum, are not audio and not streamed).
FORMATS: Mapping[str, FormatInfo] = MappingProxyType(
    {
        "mp3": FormatInfo("mp3", _COMPRESSED_RATES, 24000, (".mp3",), "audio/mpeg"),
        "ogg_vorbis": FormatInfo(
            "ogg_vorbis", _COMPRESSED_RATES, 24000, (".ogg", ".oga"), "audio/ogg"
        ),
        "ogg_opus": FormatInfo("ogg_opus", (48000,), 48000, (".opus", ".ogg", ".oga"), "audio/ogg"),
        "pcm": FormatInfo("pcm", (8000, 16000), 16000, (".pcm",), "audio/pcm", 2, wav_tag=1),
        "mulaw": FormatInfo(
            "mulaw", (8000,), 8000, (".ulaw", ".mulaw"), "audio/basic", 1, wav_tag=7
        ),
        "alaw": FormatInfo("alaw", (8000,), 8000, (".alaw",), "audio/basic", 1, wav_tag=6),
    }
)

#: Allowed sample rates and the default per output format (Hz).
SAMPLE_RATES: Mapping[str, tuple[tuple[int, ...], int]] = MappingProxyType(
    {name: (info.sample_rates, info.default_rate) for name, info in FORMATS.items()}
)

#: The ``Content-Type`` Polly answers SynthesizeSpeech with, per output format.
CONTENT_TYPES: Mapping[str, str] = MappingProxyType(
    {name: info.content_type for name, info in FORMATS.items()}
)

#: File suffixes and the output formats each one holds, in table order (``.ogg``: ogg_vorbis,
#: then ogg_opus).
SUFFIX_FORMATS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        suffix: tuple(name for name, info in FORMATS.items() if suffix in info.extensions)
        for suffix in dict.fromkeys(s for info in FORMATS.values() for s in info.extensions)
    }
)


def format_info(output_format: str) -> FormatInfo:
    """The facts about ``output_format``.

    Raises:
        ConfigurationError: not an output format (the message lists them).
    """
    try:
        return FORMATS[output_format]
    except KeyError:
        raise ConfigurationError(
            f"unknown output format {output_format!r}; known: {', '.join(FORMATS)}"
        ) from None


def resolve_sample_rate(output_format: str, sample_rate: int | None = None) -> int:
    """The sample rate to use: ``sample_rate`` if the format allows it, else its default.

    Raises:
        ConfigurationError: the format is unknown or does not allow ``sample_rate``.
    """
    info = format_info(output_format)
    if sample_rate is None:
        return info.default_rate
    if sample_rate not in info.sample_rates:
        raise ConfigurationError(
            f"{output_format} audio cannot have a sample rate of {sample_rate} Hz; "
            f"allowed: {', '.join(map(str, info.sample_rates))}"
        )
    return sample_rate
