"""Many concurrent sessions in one process, sharing one client's connection pool."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from harness.approaches import run_pipeline
from harness.common import REALISTIC_LLM, SHORT_TOKENS, VOICE, RunResult, p50, pct, rss_bytes
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session.session import SpeechSession


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


async def scale_point(service: LocalPollyService, n: int) -> ScalePoint:
    """``n`` warm sessions each speak the short answer at once; all on one client."""
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
