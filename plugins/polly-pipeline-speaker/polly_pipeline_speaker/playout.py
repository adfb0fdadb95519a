"""The playout buffer between asyncio and the audio device's callback thread.

:class:`Playout` holds 16-bit mono PCM queued by the sink (the event loop's thread) and hands
it to the device callback (miniaudio's thread) a period at a time. It is a small state
machine guarded by one lock; neither side ever waits on the other:

- **buffering**: silence until ``jitter_frames`` are queued or the input has ended (and again
  after an underrun, so playback resumes with a full jitter buffer);
- **playing**: queued samples; running dry before the input ended is an underrun;
- **fading**: after :meth:`Playout.interrupt`, the next ``fade_frames`` samples on a linear
  ramp down to zero, then the queue is dropped;
- **tail**: silence for ``tail_frames`` so the device plays out what it holds, then
- **finished**: silence; ``on_finished`` has been called once (from the callback thread).
"""

from __future__ import annotations

import enum
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PlaybackStats", "Playout"]


class _State(enum.Enum):
    BUFFERING = "buffering"
    PLAYING = "playing"
    FADING = "fading"
    TAIL = "tail"
    FINISHED = "finished"


@dataclass(frozen=True)
class PlaybackStats:
    """How playback went (a snapshot; all durations in seconds).

    Attributes:
        played_seconds: audio handed to the device (faded samples included).
        underruns: how often the buffer ran dry after playback started, before the input
            ended.
        underrun_seconds: the silence those underruns caused.
        start_latency: from the first audio received to the first audio played (None before).
        queued_seconds: audio received and not played yet.
        interrupted: whether :meth:`~polly_pipeline_speaker.SpeakerSink.interrupt` cut the
            playback short.
        dropped_seconds: queued audio discarded by an interrupt.
    """

    played_seconds: float = 0.0
    underruns: int = 0
    underrun_seconds: float = 0.0
    start_latency: float | None = None
    queued_seconds: float = 0.0
    interrupted: bool = False
    dropped_seconds: float = 0.0


class Playout:
    """A thread-safe jitter buffer with fade-out, read by an audio callback.

    Args:
        sample_rate: of the PCM queued and rendered.
        jitter_frames: samples to queue before playback starts (or resumes after an underrun).
        fade_frames: length of the fade-out on interrupt (0 stops at once).
        tail_frames: silence rendered after the last sample before playback counts as over.
        on_finished: called once, from the rendering thread, when playback is over.
        record: keep a copy of every sample rendered from the start of playback to its end.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        jitter_frames: int,
        fade_frames: int,
        tail_frames: int,
        on_finished: Callable[[], None],
        record: bool = False,
    ) -> None:
        self.sample_rate = sample_rate
        self._jitter = jitter_frames
        self._fade_total = fade_frames
        self._tail_total = tail_frames
        self._on_finished = on_finished
        self._lock = threading.Lock()
        self._queue = bytearray()
        self._state = _State.BUFFERING
        self._started = False
        self._input_ended = False
        self._interrupted = False
        self._fade_done = 0
        self._tail_left = 0
        self._played = 0
        self._underruns = 0
        self._underrun_frames = 0
        self._dropped = 0
        self._first_audio_at: float | None = None
        self._start_latency: float | None = None
        self._record: bytearray | None = bytearray() if record else None

    # --- the event loop's side ---------------------------------------------------------------

    def push(self, pcm: bytes) -> None:
        """Queue 16-bit mono PCM (ignored once the playout was interrupted or finished)."""
        if not pcm:
            return
        with self._lock:
            if self._first_audio_at is None:
                self._first_audio_at = time.monotonic()
            if self._state in (_State.BUFFERING, _State.PLAYING):
                self._queue += pcm

    def end_input(self) -> None:
        """No more audio will come: play what is queued, then finish."""
        with self._lock:
            self._input_ended = True

    def interrupt(self) -> None:
        """Stop: fade out what is playing (or stop at once if nothing is audible)."""
        finished = False
        with self._lock:
            self._interrupted = True
            if self._state is _State.PLAYING and self._fade_total > 0:
                self._state = _State.FADING
                self._fade_done = 0
            elif self._state in (_State.BUFFERING, _State.PLAYING):
                self._dropped += len(self._queue) // 2
                self._queue.clear()
                finished = self._finish()
        if finished:
            self._on_finished()

    @property
    def finished(self) -> bool:
        """Whether playback is over (drained or faded out)."""
        with self._lock:
            return self._state is _State.FINISHED

    @property
    def queued_seconds(self) -> float:
        """Audio queued and not yet rendered."""
        with self._lock:
            return len(self._queue) / 2 / self.sample_rate

    @property
    def rendered(self) -> bytes:
        """The samples rendered from the start of playback to its end (``record=True``)."""
        with self._lock:
            return bytes(self._record) if self._record is not None else b""

    def stats(self) -> PlaybackStats:
        """A snapshot of the counters."""
        rate = self.sample_rate
        with self._lock:
            return PlaybackStats(
                played_seconds=self._played / rate,
                underruns=self._underruns,
                underrun_seconds=self._underrun_frames / rate,
                start_latency=self._start_latency,
                queued_seconds=len(self._queue) / 2 / rate,
                interrupted=self._interrupted,
                dropped_seconds=self._dropped / rate,
            )

    # --- the audio thread's side -------------------------------------------------------------

    def render(self, frames: int) -> bytes:
        """The next ``frames`` samples for the device (silence where there is no audio)."""
        with self._lock:
            out = bytearray()
            finished = False
            # a period can span states (buffering -> playing -> underrun, fading -> tail)
            while not finished and len(out) < frames * 2:
                want = frames - len(out) // 2
                if self._state is _State.TAIL:
                    self._tail_left -= want
                    if self._tail_left <= 0:
                        finished = self._finish()
                    break
                if self._state is _State.FINISHED:
                    break
                before = len(out)
                finished = self._step(want, out)
                if self._record is not None and self._started:
                    self._record += out[before:]
        if finished:
            self._on_finished()
        return bytes(out).ljust(frames * 2, b"\0")

    def _step(self, want: int, out: bytearray) -> bool:
        """Render up to ``want`` samples into ``out`` in the current state; True on finishing."""
        queued = len(self._queue) // 2
        if self._state is _State.BUFFERING:
            if queued and (queued >= self._jitter or self._input_ended):
                self._state = _State.PLAYING
                if not self._started:
                    self._started = True
                    if self._first_audio_at is not None:
                        self._start_latency = time.monotonic() - self._first_audio_at
                return False
            if self._input_ended and not queued:
                return self._to_tail() if self._started else self._finish()
            if self._started:  # silent while the jitter buffer fills again
                self._underrun_frames += want
            out += bytes(want * 2)
            return False
        if self._state is _State.PLAYING:
            take = min(want, queued)
            out += self._queue[: take * 2]
            del self._queue[: take * 2]
            self._played += take
            if take < want:
                if self._input_ended:
                    return self._to_tail()
                self._underruns += 1
                self._state = _State.BUFFERING
            return False
        if self._state is _State.FADING:
            take = min(want, self._fade_total - self._fade_done)
            samples = array("h", self._queue[: take * 2].ljust(take * 2, b"\0"))
            real = min(take, queued)
            del self._queue[: real * 2]
            self._played += real
            total = self._fade_total
            for i in range(take):
                position = self._fade_done + i  # gain falls from just under 1 to exactly 0
                samples[i] = int(samples[i] * (total - 1 - position) / total)
            self._fade_done += take
            out += samples.tobytes()
            if self._fade_done >= total:
                self._dropped += len(self._queue) // 2
                self._queue.clear()
                return self._to_tail()
            return False
        raise AssertionError(f"no samples to render in state {self._state}")  # pragma: no cover

    def _to_tail(self) -> bool:
        self._state = _State.TAIL
        self._tail_left = self._tail_total
        if self._tail_left <= 0:
            return self._finish()
        return False

    def _finish(self) -> bool:
        already = self._state is _State.FINISHED
        self._state = _State.FINISHED
        return not already
