"""Pipeline layer: audio sinks, where synthesized audio goes as it arrives.

Every sink follows :class:`AudioSink` (``write(chunk)``, then ``close()`` once, idempotent);
the built-in ones also work as ``async with`` blocks. Files: :class:`WavFileSink` (pcm, mulaw,
alaw; a valid WAV after every chunk) and :class:`RawFileSink` (mp3, Ogg, raw samples), or
:func:`sink_for_path` to choose by file name. In memory and elsewhere: :class:`MemorySink`,
:class:`CallbackSink`, :class:`NullSink`, and :class:`TeeSink` to fan out.
"""

from __future__ import annotations

from polly_pipeline.audio import StreamDecoder  # re-exported: players find it here
from polly_pipeline.sinks.base import AudioSink, BaseSink
from polly_pipeline.sinks.files import RawFileSink, sink_for_path
from polly_pipeline.sinks.memory import CallbackSink, MemorySink, NullSink
from polly_pipeline.sinks.tee import TeeSink
from polly_pipeline.sinks.wav import WavFileSink

__all__ = [
    "AudioSink",
    "BaseSink",
    "CallbackSink",
    "MemorySink",
    "NullSink",
    "RawFileSink",
    "StreamDecoder",
    "TeeSink",
    "WavFileSink",
    "sink_for_path",
]
