"""Pipeline layer: the audio sink protocol and what the built-in sinks share.

A sink receives :class:`~polly_pipeline.audio.AudioChunk` objects as they arrive (no
sink buffers the whole output) and is closed once; a player may also have an optional
``interrupt()`` (see :func:`interrupt_sink`). ``close()`` is idempotent and leaves valid
output behind also after an error or a cancellation; writing after it raises
:class:`~polly_pipeline.errors.StreamStateError`. A sink holds one audio format: a chunk whose
format differs from the first one raises :class:`~polly_pipeline.errors.ConfigurationError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from polly_pipeline._aio import AsyncResource
from polly_pipeline.audio import AudioChunk, AudioFormat
from polly_pipeline.errors import ConfigurationError, StreamStateError

__all__ = ["AudioSink", "BaseSink", "SinkContext", "check_writable", "interrupt_sink"]


@runtime_checkable
class AudioSink(Protocol):
    """Where audio goes: ``write`` each chunk in order, then ``close`` once (idempotent)."""

    async def write(self, chunk: AudioChunk) -> None:
        """Take one chunk of audio."""
        ...

    async def close(self) -> None:
        """Flush and release everything; the output is complete and valid afterwards."""
        ...


async def interrupt_sink(sink: AudioSink) -> None:
    """Tell ``sink`` to stop output now, if it can.

    A sink may have an optional ``async interrupt()`` method: "stop output at once" (a player
    fades out instead of playing what it has queued). ``Pipeline.run`` calls it when a run is
    cancelled (barge-in), before ``close()``. Sinks without it are simply closed.
    """
    method = getattr(sink, "interrupt", None)
    if callable(method):
        await method()


class SinkContext(AsyncResource):
    """``async with sink:`` closes the sink on the way out (the sink protocol's ``close``)."""

    async def close(self) -> None:
        """Flush and release the output; idempotent."""
        raise NotImplementedError

    async def aclose(self) -> None:
        await self.close()


class BaseSink(SinkContext):
    """A sink's bookkeeping: one format per sink, no writes after close, ``async with``.

    Subclasses implement :meth:`_write` (and :meth:`_close` if they hold resources).
    """

    def __init__(self) -> None:
        self._format: AudioFormat | None = None
        self._closed = False

    @property
    def format(self) -> AudioFormat | None:
        """The format of the audio received so far (None before the first chunk)."""
        return self._format

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def write(self, chunk: AudioChunk) -> None:
        """Take one chunk; it must have the same format as the first."""
        if self._closed:
            raise StreamStateError(f"{type(self).__name__} is closed: no more audio can be written")
        if self._format is None:
            self._format = chunk.format
        elif chunk.format != self._format:
            raise ConfigurationError(
                f"{type(self).__name__} received {_describe(chunk.format)} audio after "
                f"{_describe(self._format)}: one sink holds one format; use a new sink for "
                "the new format"
            )
        await self._write(chunk)

    async def close(self) -> None:
        """Flush and release resources. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._close()

    async def _write(self, chunk: AudioChunk) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        return None


def check_writable(path: Path, *, overwrite: bool = True) -> None:
    """Fail now, naming ``path``, if audio could not be written there later.

    Raises:
        ConfigurationError: the folder is missing, the path is a directory, the file exists
            and ``overwrite`` is False, or permission is denied.
    """
    where = f"cannot write audio to {path}"
    parent = path.parent
    if path.is_dir():
        raise ConfigurationError(f"{where}: it is a directory; give a file name")
    if not parent.exists():
        raise ConfigurationError(f"{where}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise ConfigurationError(f"{where}: {parent} is not a folder")
    if path.exists():
        if not overwrite:
            raise ConfigurationError(
                f"{where}: the file exists (pass overwrite=True to replace it)"
            )
        if not os.access(path, os.W_OK):
            raise ConfigurationError(f"{where}: permission denied")
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigurationError(f"{where}: permission denied (cannot create files in {parent})")


def _describe(fmt: AudioFormat) -> str:
    return f"{fmt.output_format}/{fmt.sample_rate} Hz"
