"""Local service layer: speaking text with the offline voice, with a shared cache.

The offline voice is deterministic (the same text, voice, markup and rate always give the
same samples), and it is one process-wide espeak-ng engine behind a lock. When many streams
ask for the same sentence at once (a test suite, a load test, several users hearing the same
greeting) they would queue on that lock; Amazon Polly synthesizes streams in parallel. So
rendered PCM is cached (least recently used, bounded in bytes, shared by every service in the
process), and identical requests in flight share one synthesis.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

from polly_pipeline.audio import resample
from polly_pipeline.local.voice import get_offline_voice
from polly_pipeline.local.voices import VoiceInfo

__all__ = ["RENDER_CACHE_BYTES", "RenderCache", "render_pcm"]

#: Rendered PCM kept for reuse (about 10 minutes of 24 kHz speech).
RENDER_CACHE_BYTES = 32 * 1024 * 1024

_Key = tuple[str, VoiceInfo, bool, int]


class RenderCache:
    """Finished renders by key (LRU within ``max_bytes``) and the renders in flight."""

    def __init__(self, max_bytes: int = RENDER_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._done: OrderedDict[_Key, bytes] = OrderedDict()
        self._size = 0
        self._pending: dict[_Key, Future[bytes]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"<RenderCache {len(self._done)} renders, {self._size} of {self.max_bytes} bytes, "
            f"hits={self.hits} misses={self.misses}>"
        )

    @property
    def in_flight(self) -> int:
        """Renders running on a worker thread now (a virtual clock waits for them)."""
        with self._lock:
            return len(self._pending)

    def claim(self, key: _Key) -> tuple[Future[bytes], bool]:
        """The future holding ``key``'s PCM, and whether the caller must render it."""
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                self.hits += 1
                done: Future[bytes] = Future()
                done.set_result(self._done[key])
                return done, False
            if key in self._pending:
                self.hits += 1
                return self._pending[key], False
            self.misses += 1
            future: Future[bytes] = Future()
            self._pending[key] = future
            return future, True

    def finish(self, key: _Key, pcm: bytes | None, error: BaseException | None) -> None:
        """Publish a render (or its failure, which is not cached).

        The waiters get the result before the render stops counting as in flight, so a
        virtual clock never sees a moment with neither (it would jump to its next timer).
        """
        with self._lock:
            future = self._pending[key]
        if error is not None:
            future.set_exception(error)
        else:
            assert pcm is not None
            future.set_result(pcm)
        with self._lock:
            del self._pending[key]
            if pcm is not None and len(pcm) <= self.max_bytes:
                self._done[key] = pcm
                self._size += len(pcm)
                while self._size > self.max_bytes:
                    _, evicted = self._done.popitem(last=False)
                    self._size -= len(evicted)

    def clear(self) -> None:
        """Forget every finished render."""
        with self._lock:
            self._done.clear()
            self._size = 0


#: The process-wide cache :func:`render_pcm` uses.
CACHE = RenderCache()
#: Renders run here (espeak-ng itself is serialized; resampling runs in parallel).
_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="polly-local-render")


def _render(text: str, voice: VoiceInfo, ssml: bool, sample_rate: int) -> bytes:
    engine = get_offline_voice()
    pcm = engine.synthesize(text, voice=voice, ssml=ssml)
    if engine.native_sample_rate != sample_rate:
        pcm = resample(pcm, engine.native_sample_rate, sample_rate)
    return pcm


async def render_pcm(text: str, voice: VoiceInfo, *, ssml: bool, sample_rate: int) -> bytes:
    """Speak ``text`` with the offline voice: s16le mono PCM at ``sample_rate`` (off the loop)."""
    key = (text, voice, ssml, sample_rate)
    future, mine = CACHE.claim(key)
    if mine:  # render on a worker thread that publishes whatever happens to the caller
        work = _WORKERS.submit(_render, text, voice, ssml, sample_rate)
        work.add_done_callback(lambda done: _publish(key, done))
    # shielded: a cancelled listener must not cancel the render others are waiting for
    return await asyncio.shield(asyncio.wrap_future(future))


def _publish(key: _Key, done: Future[bytes]) -> None:
    error = done.exception()
    CACHE.finish(key, None if error is not None else done.result(), error)
