"""SpeakerSink: play a pipeline's audio on the speakers while it streams.

Chunks are decoded to PCM (:class:`polly_pipeline.audio.StreamDecoder`) and queued in a
:class:`~polly_pipeline_speaker.playout.Playout`, which miniaudio's callback thread reads a
period at a time. Playback starts once ``jitter_buffer`` seconds are queued (or the answer
ends); ``close()`` plays out what is queued, ``interrupt()`` fades out and stops. The event
loop never polls: the callback thread reports the end of playback with
``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from typing import Any

from polly_pipeline.audio import AudioChunk, StreamDecoder
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.sinks import BaseSink
from polly_pipeline_speaker.devices import (
    BackendLike,
    feeder,
    open_device,
    resolve_backends,
)
from polly_pipeline_speaker.playout import PlaybackStats, Playout

__all__ = ["SpeakerSink"]

log = logging.getLogger(__name__)

#: Silence rendered after the last sample before the device is stopped, in device periods:
#: what the device still holds has to reach the speaker.
_TAIL_PERIODS = 2


class SpeakerSink(BaseSink):
    """Plays audio through a sound device as it arrives (any polly-pipeline output format).

    Args:
        device: a playback device name, or a unique part of one (see
            :func:`~polly_pipeline_speaker.available_devices`); None: the default device.
        backends: audio backends to try, in order, by name (``"pulseaudio"``, ``"alsa"``,
            ``"coreaudio"``, ``"wasapi"``, ``"null"``...) or ``miniaudio.Backend``; None:
            miniaudio's defaults for the platform. ``["null"]`` plays in real time with no
            sound card (servers, CI).
        jitter_buffer: seconds of audio to queue before playback starts (and resumes after an
            underrun); more rides out a slower network, less starts sooner.
        fade_out: seconds of the fade on :meth:`interrupt` (0 cuts at once, which clicks).
        period: seconds of audio the device asks for at a time (its latency).
        drain_timeout: extra seconds ``close()`` waits beyond the queued audio's length before
            it stops the device anyway.
        record: keep a copy of every sample rendered (:attr:`rendered`), for tests and
            diagnostics.
        app_name: the name the sound server shows for the stream.

    Raises:
        ConfigurationError: an option is out of range or names an unknown backend.
    """

    def __init__(
        self,
        device: str | None = None,
        backends: Sequence[BackendLike] | None = None,
        jitter_buffer: float = 0.2,
        fade_out: float = 0.03,
        *,
        period: float = 0.02,
        drain_timeout: float = 2.0,
        record: bool = False,
        app_name: str = "polly-pipeline",
    ) -> None:
        super().__init__()
        _check_range("jitter_buffer", jitter_buffer, 0.0, 10.0)
        _check_range("fade_out", fade_out, 0.0, 1.0)
        _check_range("period", period, 0.001, 1.0)
        _check_range("drain_timeout", drain_timeout, 0.0, 3600.0)
        if device is not None and (not isinstance(device, str) or not device.strip()):
            raise ConfigurationError(
                f"SpeakerSink(device=...) must be a device name or None, not {device!r}"
            )
        self.device_name = device
        self.backends = resolve_backends(backends)
        self.jitter_buffer = jitter_buffer
        self.fade_out = fade_out
        self.period = period
        self.drain_timeout = drain_timeout
        self.app_name = app_name
        self._record = record
        self._decoder: StreamDecoder | None = None
        self._playout: Playout | None = None
        self._device: Any = None
        self._finished: asyncio.Event | None = None
        self._interrupted = False
        #: The backend playing the audio (e.g. ``"PulseAudio"``, ``"Null"``), once opened.
        self.backend: str | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<SpeakerSink {self.backend or 'not started'}, {state}, {self.stats}>"

    @property
    def stats(self) -> PlaybackStats:
        """Played seconds, underruns, start latency... (a snapshot; zeros before any audio)."""
        return self._playout.stats() if self._playout is not None else PlaybackStats()

    @property
    def rendered(self) -> bytes:
        """16-bit mono PCM the device was given, start to end (needs ``record=True``)."""
        return self._playout.rendered if self._playout is not None else b""

    @property
    def sample_rate(self) -> int | None:
        """The rate the device plays at (None before the first chunk)."""
        return self._playout.sample_rate if self._playout is not None else None

    async def interrupt(self) -> None:
        """Stop output now: fade out over ``fade_out`` seconds, drop the rest, stop the device.

        Returns once the fade has played (within a deadline). Later writes are ignored;
        ``close()`` still has to be called (``Pipeline.run`` does both on barge-in).
        """
        if self._interrupted or self.closed:
            return
        await self._fade_out()

    async def _fade_out(self) -> None:
        self._interrupted = True
        if self._playout is None:
            return
        try:
            self._playout.interrupt()
            await self._wait_finished(self.fade_out + self._tail_seconds() + 0.5)
        finally:
            self._stop_device()

    async def _write(self, chunk: AudioChunk) -> None:
        if self._interrupted:
            return
        if self._decoder is None:
            self._start(chunk)
        assert self._decoder is not None
        assert self._playout is not None
        self._playout.push(self._decoder.feed(chunk.data))

    async def _close(self) -> None:
        playout = self._playout
        if playout is None:
            return
        try:
            if not self._interrupted:
                assert self._decoder is not None
                playout.push(self._decoder.flush())
                playout.end_input()
                await self._drain(playout)
        finally:
            self._stop_device()

    async def _drain(self, playout: Playout) -> None:
        """Wait until the queued audio has played, but never for ever."""
        queued = playout.queued_seconds
        deadline = queued + max(queued * 0.5, self.drain_timeout) + self._tail_seconds()
        try:
            drained = await self._wait_finished(deadline)
        except asyncio.CancelledError:
            # cancelled while the answer plays out (a barge-in after the last chunk arrived):
            # fade out like interrupt() rather than cut
            await self._fade_out()
            raise
        if not drained:
            log.warning(
                "SpeakerSink: the device did not play out %.1f s of audio within %.1f s; "
                "stopping it",
                queued,
                deadline,
            )

    def _start(self, chunk: AudioChunk) -> None:
        """Open and start the device for the first chunk's format."""
        decoder = StreamDecoder(chunk.format)
        rate = decoder.sample_rate
        loop = asyncio.get_running_loop()
        finished = asyncio.Event()

        def on_finished() -> None:  # runs on miniaudio's thread
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(finished.set)

        period_frames = max(1, round(self.period * rate))
        playout = Playout(
            rate,
            jitter_frames=round(self.jitter_buffer * rate),
            fade_frames=round(self.fade_out * rate),
            tail_frames=_TAIL_PERIODS * period_frames,
            on_finished=on_finished,
            record=self._record,
        )
        device = open_device(
            sample_rate=rate,
            device=self.device_name,
            backends=self.backends,
            period_ms=max(1, math.ceil(self.period * 1000)),
            app_name=self.app_name,
        )
        try:
            generator = feeder(playout.render)
            next(generator)
            device.start(generator)
        except Exception as exc:
            device.close()
            raise ConfigurationError(
                f"SpeakerSink: the playback device could not be started ({exc})"
            ) from exc
        self._decoder, self._playout, self._device, self._finished = (
            decoder,
            playout,
            device,
            finished,
        )
        self.backend = str(device.backend)

    def _tail_seconds(self) -> float:
        return _TAIL_PERIODS * self.period

    async def _wait_finished(self, within: float) -> bool:
        """Wait for the callback thread to report the end of playback; False on timeout."""
        assert self._finished is not None
        try:
            async with asyncio.timeout(within):
                await self._finished.wait()
        except TimeoutError:
            return False
        return True

    def _stop_device(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            device.close()  # waits for the callback in flight (one period at most)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigurationError(f"SpeakerSink({name}=...) must be a number of seconds")
    if not low <= value <= high:
        raise ConfigurationError(
            f"SpeakerSink({name}={value!r}) is out of range: use {low:g} to {high:g} seconds"
        )
