"""polly-pipeline-speaker: hear a polly-pipeline answer on the speakers while it streams.

::

    from polly_pipeline_speaker import SpeakerSink

    report = await Pipeline(session).run(llm_tokens, SpeakerSink())

:class:`SpeakerSink` plays every output format in real time through miniaudio (its bundled
backends, or ``backends=["null"]`` with no sound card), with a jitter buffer, underrun counts
and a fade-out on barge-in. It is registered as the ``speaker`` sink plugin
(entry point group ``polly_pipeline.sinks``).
"""

from __future__ import annotations

from polly_pipeline_speaker.devices import BACKEND_NAMES, available_devices, check_playback
from polly_pipeline_speaker.playout import PlaybackStats
from polly_pipeline_speaker.sink import SpeakerSink

__all__ = [
    "BACKEND_NAMES",
    "PlaybackStats",
    "SpeakerSink",
    "available_devices",
    "check_playback",
]
