"""Pipeline layer: one stream of audio to several sinks at once."""

from __future__ import annotations

import asyncio

from polly_pipeline.audio import AudioChunk
from polly_pipeline.errors import ConfigurationError, StreamStateError
from polly_pipeline.sinks.base import AudioSink, SinkContext, interrupt_sink

__all__ = ["TeeSink"]


class TeeSink(SinkContext):
    """Writes every chunk to each of ``sinks``, in order.

    One failing sink does not starve the others: every sink gets the chunk (and ``close()``
    closes every sink), then the first error is raised. A cancellation stops at once.
    """

    def __init__(self, *sinks: AudioSink) -> None:
        if not sinks:
            raise ConfigurationError("TeeSink needs at least one sink")
        self.sinks: tuple[AudioSink, ...] = sinks
        self._closed = False

    def __repr__(self) -> str:
        return f"<TeeSink {', '.join(map(repr, self.sinks))}>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def write(self, chunk: AudioChunk) -> None:
        """Give the chunk to every sink; then raise the first error, if any."""
        if self._closed:
            raise StreamStateError("TeeSink is closed: no more audio can be written")
        first: Exception | None = None
        for sink in self.sinks:
            try:
                await sink.write(chunk)
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first

    async def interrupt(self) -> None:
        """Tell every sink that can to stop output now (see :func:`interrupt_sink`)."""
        errors = await asyncio.gather(*map(interrupt_sink, self.sinks), return_exceptions=True)
        for error in errors:
            if isinstance(error, BaseException):
                raise error

    async def close(self) -> None:
        """Close every sink; then raise the first error, if any. Idempotent."""
        if self._closed:
            return
        self._closed = True
        first: Exception | None = None
        for sink in self.sinks:
            try:
                await sink.close()
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first
