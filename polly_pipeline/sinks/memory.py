"""Pipeline layer: sinks that keep audio in memory, hand it to a function, or count it."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from polly_pipeline.audio import AudioChunk, StreamDecoder
from polly_pipeline.errors import AudioDecodeError
from polly_pipeline.sinks.base import BaseSink

__all__ = ["CallbackSink", "MemorySink", "NullSink"]


class MemorySink(BaseSink):
    """Keeps every chunk: for tests, notebooks and post-processing."""

    def __init__(self) -> None:
        super().__init__()
        #: The chunks received, in order.
        self.chunks: list[AudioChunk] = []

    def __repr__(self) -> str:
        return (
            f"<MemorySink {len(self.chunks)} chunks, {sum(len(c.data) for c in self.chunks)} bytes>"
        )

    @property
    def data(self) -> bytes:
        """All audio bytes, concatenated."""
        return b"".join(chunk.data for chunk in self.chunks)

    def duration_seconds(self) -> float | None:
        """How long the audio lasts: exact for pcm, mulaw and alaw, decoded for the rest.

        Returns None when compressed audio cannot be decoded (for example, a cut-off stream).
        """
        fmt = self.format
        if fmt is None:
            return 0.0
        data = self.data
        rate = fmt.bytes_per_second
        if rate is not None:
            return len(data) / rate
        decoder = StreamDecoder(fmt)
        try:
            decoder.feed(data)
            decoder.flush()
        except AudioDecodeError:
            return None
        return decoder.seconds_out

    async def _write(self, chunk: AudioChunk) -> None:
        self.chunks.append(chunk)


class CallbackSink(BaseSink):
    """Calls ``fn(chunk)`` for every chunk; ``fn`` may be a plain or an async function."""

    def __init__(self, fn: Callable[[AudioChunk], Awaitable[None] | None]) -> None:
        super().__init__()
        self._fn = fn

    def __repr__(self) -> str:
        return f"<CallbackSink {self._fn!r}>"

    async def _write(self, chunk: AudioChunk) -> None:
        result = self._fn(chunk)
        if inspect.isawaitable(result):
            await result


class NullSink(BaseSink):
    """Discards the audio and counts it (benchmarks, dry runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes_written = 0
        self.chunks_written = 0

    def __repr__(self) -> str:
        return f"<NullSink {self.chunks_written} chunks, {self.bytes_written} bytes>"

    async def _write(self, chunk: AudioChunk) -> None:
        self.chunks_written += 1
        self.bytes_written += len(chunk.data)
