"""Pipeline layer: a raw audio file sink, and the sink a file name calls for.

:class:`RawFileSink` writes the bytes as they arrive and flushes after each chunk, which is
all a valid mp3 or Ogg file needs (both are streams of self-delimiting frames or pages), and
is raw samples for pcm, mulaw and alaw. :func:`sink_for_path` picks a WAV file for ``.wav``
names and a raw file otherwise. As in the WAV sink, writes are synchronous: chunks are small,
and a write a cancellation cannot cut in half keeps the file whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from polly_pipeline.audio import FORMATS, SUFFIX_FORMATS, AudioChunk
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.sinks.base import AudioSink, BaseSink, check_writable
from polly_pipeline.sinks.wav import WAV_FORMATS, WavFileSink

__all__ = ["RawFileSink", "sink_for_path"]


class RawFileSink(BaseSink):
    """Writes the audio bytes as they arrive (mp3, Ogg, or raw pcm/mulaw/alaw samples).

    Args:
        path: the file to write; created (or replaced) when the first chunk arrives.
        overwrite: replace an existing file (else a ConfigurationError, at once).
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> None:
        super().__init__()
        self.path = Path(path)
        check_writable(self.path, overwrite=overwrite)
        self._file: BinaryIO | None = None
        self.bytes_written = 0

    def __repr__(self) -> str:
        return f"<RawFileSink {self.path} {self.bytes_written} bytes>"

    async def _write(self, chunk: AudioChunk) -> None:
        try:
            if self._file is None:
                # kept open across chunks (SIM115); small synchronous writes (ASYNC230)
                self._file = open(self.path, "wb")  # noqa: SIM115, ASYNC230
            self._file.write(chunk.data)
            self._file.flush()
        except OSError as exc:
            raise ConfigurationError(f"cannot write audio to {self.path}: {exc}") from exc
        self.bytes_written += len(chunk.data)

    async def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()


def sink_for_path(path: str | os.PathLike[str], output_format: str) -> AudioSink:
    """The sink for a file name: ``.wav`` gives a WavFileSink, anything else a RawFileSink.

    Raises:
        ConfigurationError: an unknown format, a ``.wav`` name for a compressed format, a
            suffix that names another format (``answer.mp3`` for ogg_vorbis), or a path that
            cannot be written.
    """
    target = Path(path)
    if output_format not in FORMATS:
        raise ConfigurationError(
            f"unknown output format {output_format!r}; use one of {', '.join(FORMATS)}"
        )
    suffix = target.suffix.lower()
    if suffix == ".wav":
        if output_format not in WAV_FORMATS:
            raise ConfigurationError(
                f"{target} is a WAV file, which holds pcm (or mulaw/alaw) audio, not "
                f"{output_format}: use output format pcm, or a file name that fits "
                f"{output_format}"
            )
        return WavFileSink(target)
    fits = SUFFIX_FORMATS.get(suffix)
    if fits is not None and output_format not in fits:
        raise ConfigurationError(
            f"{target} looks like {' or '.join(fits)} audio but the output format is "
            f"{output_format}: change the file name or the format"
        )
    return RawFileSink(target)
