"""Audio layer: everything the package knows about audio, below session, sinks and local.

- :mod:`~polly_pipeline.audio.formats`: the output formats and their facts (rates, file
  extensions, content types, byte rates, channels), one table.
- :mod:`~polly_pipeline.audio.chunk`: :class:`AudioFormat` and :class:`AudioChunk`.
- :mod:`~polly_pipeline.audio.clock`: :class:`AudioClock`, seconds of audio without decoding.
- :mod:`~polly_pipeline.audio.ogg` and :mod:`~polly_pipeline.audio.xiph`: the Ogg reader and
  writer with its CRC, and the Vorbis and Opus headers inside it.
- :mod:`~polly_pipeline.audio.decoder`: :class:`StreamDecoder`, the one incremental decoder.
- :mod:`~polly_pipeline.audio.encoder`: :class:`StreamEncoder`, the streaming encoders.
- :mod:`~polly_pipeline.audio.pcm` and :mod:`~polly_pipeline.audio.codecs`: PCM helpers and
  the shared PyAV pieces (resampling, G.711 tables).

Modules here import nothing from the package but :mod:`polly_pipeline.errors` and each
other; PyAV is loaded only when audio is encoded, decoded or resampled.
"""

from polly_pipeline.audio.chunk import AudioChunk, AudioFormat
from polly_pipeline.audio.clock import AudioClock
from polly_pipeline.audio.codecs import resample
from polly_pipeline.audio.decoder import StreamDecoder, decode_audio
from polly_pipeline.audio.encoder import StreamEncoder
from polly_pipeline.audio.formats import (
    CONTENT_TYPES,
    FORMATS,
    SAMPLE_RATES,
    SUFFIX_FORMATS,
    FormatInfo,
    OutputFormat,
    format_info,
    resolve_sample_rate,
)
from polly_pipeline.audio.ogg import OggPacketReader, OggPage, OggPageReader, OggWriter, ogg_crc
from polly_pipeline.audio.pcm import downmix, duration_seconds, wav_bytes

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "SAMPLE_RATES",
    "SUFFIX_FORMATS",
    "AudioChunk",
    "AudioClock",
    "AudioFormat",
    "FormatInfo",
    "OggPacketReader",
    "OggPage",
    "OggPageReader",
    "OggWriter",
    "OutputFormat",
    "StreamDecoder",
    "StreamEncoder",
    "decode_audio",
    "downmix",
    "duration_seconds",
    "format_info",
    "ogg_crc",
    "resample",
    "resolve_sample_rate",
    "wav_bytes",
]
