"""A polly-pipeline plugin to copy: one sink and one stage, registered as entry points.

- :class:`LevelMeterSink` (sink ``level-meter``): measures the loudness of every pcm chunk
  and can log a live meter line per chunk.
- :func:`pronounce` (stage ``pronounce``): an aiostream operator that replaces words with how
  they should be said ("nginx" -> "engine x"), also when a word arrives in pieces.
"""

from __future__ import annotations

from polly_pipeline_plugin_template.level_meter import ChunkLevel, LevelMeterSink
from polly_pipeline_plugin_template.pronounce import pronounce

__all__ = ["ChunkLevel", "LevelMeterSink", "pronounce"]
