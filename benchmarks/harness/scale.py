"""Many concurrent sessions in one process, sharing one client's connection pool."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.approaches import run_pipeline
from harness.common import REALISTIC_LLM, SHORT_TOKENS, VOICE, RunResult, p50, pct, rss_bytes
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session.session import SpeechSession


@contextlib.contextmanager
def cached_voice() -> Iterator[None]:
    """Memoize the local service's espeak-ng synthesis and resampling (same process).

    The local service speaks through ONE process-wide espeak-ng engine behind a lock, and
    resamples on its event loop; with hundreds of streams asking at the same instant, that
    queue, not the client, sets time to first audio. Amazon Polly synthesizes streams in
    parallel, so the scale test replays each distinct sentence's audio from a cache (every
    session speaks the same answer): the service still frames, signs-checks, paces and sends
    every event; only the synthesis itself is shared.
    """
    from polly_pipeline.local import synthesis_stream, voice  # noqa: PLC0415

    synthesize, resample = voice.OfflineVoice.synthesize, synthesis_stream.resample
    spoken: dict[tuple[Any, ...], bytes] = {}
    resampled: dict[tuple[bytes, int, int], bytes] = {}

    def cached_synthesize(self: Any, text: str, **kwargs: Any) -> bytes:
        key = (text, kwargs["voice"].espeak_name, *sorted(kwargs.items(), key=str)[1:])
        if key not in spoken:
            spoken[key] = synthesize(self, text, **kwargs)
        return spoken[key]

    def cached_resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
        key = (pcm, from_rate, to_rate)
        if key not in resampled:
            resampled[key] = resample(pcm, from_rate, to_rate)
        return resampled[key]

    voice.OfflineVoice.synthesize = cached_synthesize  # type: ignore[method-assign]
    synthesis_stream.resample = cached_resample
    try:
        yield
    finally:
        voice.OfflineVoice.synthesize = synthesize  # type: ignore[method-assign]
        synthesis_stream.resample = resample


@dataclass
class ScalePoint:
    sessions: int
    overhead_p50: float
    overhead_p99: float
    ttfa_p50: float
    cpu_per_audio_second: float  # whole process (client + local service + awscrt threads)
    loop_cpu_per_audio_second: float  # the client's event-loop thread only
    rss_per_session: float  # bytes
    connections: int  # peak connections_open in the client pool
    connections_created: int
    streams_peak: int
    failures: int
    cached: bool = True  # espeak-ng output memoized (see cached_voice)


async def scale_point(service: LocalPollyService, n: int, *, cached: bool = True) -> ScalePoint:
    """``n`` warm sessions each speak the short answer at once; all on one client."""
    with cached_voice() if cached else contextlib.nullcontext():
        point = await _scale_point(service, n)
    point.cached = cached
    return point


async def _scale_point(service: LocalPollyService, n: int) -> ScalePoint:
    rss0 = rss_bytes()
    peak = {"rss": rss0, "conns": 0, "streams": 0}
    async with service.client() as client:
        sessions = [SpeechSession(client, voice_id=VOICE, output_format="pcm") for _ in range(n)]
        await asyncio.gather(*(s.start() for s in sessions))
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                stats = client.pool.stats()
                peak["conns"] = max(peak["conns"], stats.connections_open)
                peak["streams"] = max(peak["streams"], stats.streams_active)
                peak["rss"] = max(peak["rss"], rss_bytes())
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        await asyncio.sleep(0.2)  # let the spare streams open
        cpu0, loop0 = time.process_time(), time.thread_time()
        outcomes = await asyncio.gather(
            *(run_pipeline(s, SHORT_TOKENS, REALISTIC_LLM) for s in sessions),
            return_exceptions=True,
        )
        cpu, loop_cpu = time.process_time() - cpu0, time.thread_time() - loop0
        stop.set()
        await sampler
        created = client.pool.stats().connections_created
        await asyncio.gather(*(s.aclose() for s in sessions), return_exceptions=True)
    results = [o for o in outcomes if isinstance(o, RunResult)]
    audio = sum(r.audio_seconds for r in results) or float("nan")
    overheads = [r.overhead for r in results] or [float("nan")]
    return ScalePoint(
        sessions=n,
        overhead_p50=p50(overheads),
        overhead_p99=pct(overheads, 0.99),
        ttfa_p50=p50([r.ttfa for r in results] or [float("nan")]),
        cpu_per_audio_second=cpu / audio,
        loop_cpu_per_audio_second=loop_cpu / audio,
        rss_per_session=(peak["rss"] - rss0) / n,
        connections=peak["conns"],
        connections_created=created,
        streams_peak=peak["streams"],
        failures=n - len(results),
    )
