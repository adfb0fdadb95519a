"""A sink that measures how loud each chunk of speech is, and can print a live meter."""

from __future__ import annotations

import math
import sys
from array import array
from dataclasses import dataclass
from typing import TextIO

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.session import AudioChunk
from polly_pipeline.sinks import BaseSink

__all__ = ["ChunkLevel", "LevelMeterSink"]

_FULL_SCALE = 32768.0
_FLOOR_DB = -96.0  # the quietest level a 16-bit sample can tell apart from silence


@dataclass(frozen=True)
class ChunkLevel:
    """The loudness of one chunk.

    Attributes:
        start: seconds of audio before this chunk (its place on the timeline).
        seconds: how long the chunk lasts.
        rms_dbfs: its average level, in dB below full scale (-96 for silence).
        peak_dbfs: its loudest sample, in dB below full scale.
    """

    start: float
    seconds: float
    rms_dbfs: float
    peak_dbfs: float


class LevelMeterSink(BaseSink):
    """Measures the level of every chunk of ``pcm`` audio (16-bit little-endian mono).

    Args:
        log: where to print one meter line per chunk (None: measure quietly).
        width: characters of the meter bar at full scale.

    The levels are kept in :attr:`levels`; :meth:`interrupt` (called by ``Pipeline.run`` on a
    barge-in) marks the meter as interrupted and logs it.
    """

    def __init__(self, log: TextIO | None = None, *, width: int = 40) -> None:
        super().__init__()
        if width < 1:
            raise ConfigurationError(f"the meter needs a width of at least 1, got {width}")
        self._log = log
        self._width = width
        self._seconds = 0.0
        self._odd_byte = b""
        #: The level of each chunk received, in order.
        self.levels: list[ChunkLevel] = []
        #: Whether the run was interrupted (barge-in).
        self.interrupted = False

    def __repr__(self) -> str:
        return f"<LevelMeterSink {len(self.levels)} chunks, {self._seconds:.2f} s>"

    @property
    def seconds(self) -> float:
        """Seconds of audio measured so far."""
        return self._seconds

    @property
    def loudest(self) -> ChunkLevel | None:
        """The chunk with the highest average level (None before any audio)."""
        return max(self.levels, key=lambda level: level.rms_dbfs, default=None)

    async def interrupt(self) -> None:
        """Stop output now: a meter has nothing queued, so it only records the interruption."""
        self.interrupted = True
        self._print(f"{self._seconds:7.2f} s  interrupted")

    async def _write(self, chunk: AudioChunk) -> None:
        fmt = chunk.format
        if fmt.output_format != "pcm":
            raise ConfigurationError(
                f"LevelMeterSink measures pcm audio, not {fmt.output_format}; "
                "ask the session for output_format='pcm'"
            )
        data = self._odd_byte + chunk.data  # a sample may be split between chunks
        whole = len(data) - len(data) % 2
        self._odd_byte = data[whole:]
        samples = array("h", data[:whole])
        if sys.byteorder == "big":
            samples.byteswap()
        seconds = whole / (2 * fmt.sample_rate)
        level = ChunkLevel(self._seconds, seconds, *_levels(samples))
        self.levels.append(level)
        self._seconds += seconds
        self._print(self._line(level))

    def _line(self, level: ChunkLevel) -> str:
        filled = round((level.rms_dbfs - _FLOOR_DB) / -_FLOOR_DB * self._width)
        bar = "#" * max(0, min(self._width, filled))
        return (
            f"{level.start:7.2f} s  {level.rms_dbfs:6.1f} dBFS  "
            f"{bar:<{self._width}}  peak {level.peak_dbfs:6.1f}"
        )

    def _print(self, line: str) -> None:
        if self._log is not None:
            print(line, file=self._log, flush=True)


def _levels(samples: array[int]) -> tuple[float, float]:
    """RMS and peak level of 16-bit samples, in dBFS."""
    if not samples:
        return _FLOOR_DB, _FLOOR_DB
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    peak = max(abs(s) for s in samples)
    return _dbfs(rms), _dbfs(peak)


def _dbfs(value: float) -> float:
    if value <= 0:
        return _FLOOR_DB
    return max(_FLOOR_DB, 20.0 * math.log10(value / _FULL_SCALE))
