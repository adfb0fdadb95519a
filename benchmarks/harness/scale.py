"""Many concurrent sessions in one process, sharing one client's connection pool.

The local service runs in a process of its own (``polly-pipeline local --latency
realistic``), as Amazon Polly would: the client process's CPU, memory and event loop are the
client's alone, and the service's work does not queue behind the client's on one GIL.

Three arrival patterns per size; in all of them every session is open (a warm stream kept
alive) from start to end, so N sessions are N concurrent conversations:

- ``conversation``: the N sessions each ask once, evenly over ``CONVERSATION`` seconds (about
  how long one answer takes to play): the rate at which N users in conversation ask, each
  listening to the whole answer before the next question. The target is measured on it.
- ``rush``: the N turns start evenly over ``RUSH`` seconds, shorter than a turn (the LLM
  streams for ~2.3 s), so from the last arrival on all N turns are being generated and
  synthesized at once: ten times the conversation rate.
- ``burst``: all N start in the same millisecond (same tokens, same pacing), so every
  session's first segment, first TextEvent and first audio coincide: the worst case.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.approaches import run_pipeline
from harness.common import REALISTIC_LLM, SHORT_TOKENS, VOICE, RunResult, p50, pct, rss_bytes
from polly_pipeline.client.client import PollyStreamingClient
from polly_pipeline.local.config import DEFAULT_CREDENTIALS
from polly_pipeline.session.session import SpeechSession

#: Seconds over which arrivals are spread, by pattern (see the module docstring).
CONVERSATION = 10.0
RUSH = 1.0
PATTERNS = {"conversation": CONVERSATION, "rush": RUSH, "burst": 0.0}


@dataclass
class ServiceProcess:
    """The local service in its own process."""

    process: subprocess.Popen[str]
    endpoint_url: str
    ca_file: str

    def client(self) -> PollyStreamingClient:
        return PollyStreamingClient(
            region="us-east-1",
            endpoint_url=self.endpoint_url,
            credentials=DEFAULT_CREDENTIALS,
            ca_file=self.ca_file,
        )

    def cpu_seconds(self) -> float:
        """User + system CPU the service process used so far (Linux; NaN elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def service_process(max_concurrent_streams: int = 100) -> Iterator[ServiceProcess]:
    """Start ``polly-pipeline local --latency realistic`` and wait for its endpoint."""
    with tempfile.TemporaryDirectory() as tmp:
        ca = str(Path(tmp) / "ca.pem")
        command = [
            *(sys.executable, "-c", "from polly_pipeline.cli import main; main()"),
            *("local", "--latency", "realistic", "--ca-file", ca),
            *("--max-concurrent-streams", str(max_concurrent_streams)),
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None
            deadline = time.monotonic() + 30
            endpoint = None
            while endpoint is None and time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line:
                    break
                found = re.search(r"endpoint\s+(https://\S+)", line)
                endpoint = found.group(1) if found else None
            if endpoint is None:
                raise RuntimeError("the local service did not print its endpoint within 30 s")
            yield ServiceProcess(process, endpoint, ca)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class ScalePoint:
    sessions: int
    arrivals: str  # a key of PATTERNS
    overhead_p50: float
    overhead_p99: float
    ttfa_p50: float
    active_peak: int  # turns running at the same moment
    cpu_per_audio_second: float  # the client process (loop + awscrt threads)
    loop_cpu_per_audio_second: float  # the client's event-loop thread only
    service_cpu_per_audio_second: float  # the service process
    rss_per_session: float  # bytes
    audio_per_turn: float  # seconds of speech one answer holds
    connections: int  # peak connections_open in the client pool
    connections_created: int
    streams_peak: int
    failures: int


async def scale_point(service: ServiceProcess, n: int, *, pattern: str) -> ScalePoint:
    """``n`` warm sessions on one client each speak the short answer, arriving by ``pattern``."""
    spread = PATTERNS[pattern]
    rss0 = rss_bytes()
    peak = {"rss": rss0, "conns": 0, "streams": 0, "active": 0}
    active = 0
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

        async def arrive(i: int, session: SpeechSession) -> RunResult:
            nonlocal active
            await asyncio.sleep(spread * i / n)
            active += 1
            peak["active"] = max(peak["active"], active)
            try:
                return await run_pipeline(session, SHORT_TOKENS, REALISTIC_LLM)
            finally:
                active -= 1

        sampler = asyncio.create_task(sample())
        await asyncio.sleep(0.2)  # let the spare streams open
        cpu0, loop0, svc0 = time.process_time(), time.thread_time(), service.cpu_seconds()
        outcomes = await asyncio.gather(
            *(arrive(i, s) for i, s in enumerate(sessions)), return_exceptions=True
        )
        cpu, loop_cpu = time.process_time() - cpu0, time.thread_time() - loop0
        svc_cpu = service.cpu_seconds() - svc0
        stop.set()
        await sampler
        created = client.pool.stats().connections_created
        await asyncio.gather(*(s.aclose() for s in sessions), return_exceptions=True)
    results = [o for o in outcomes if isinstance(o, RunResult)]
    audio = sum(r.audio_seconds for r in results) or float("nan")
    overheads = [r.overhead for r in results] or [float("nan")]
    return ScalePoint(
        sessions=n,
        arrivals=pattern,
        overhead_p50=p50(overheads),
        overhead_p99=pct(overheads, 0.99),
        ttfa_p50=p50([r.ttfa for r in results] or [float("nan")]),
        active_peak=peak["active"],
        cpu_per_audio_second=cpu / audio,
        loop_cpu_per_audio_second=loop_cpu / audio,
        service_cpu_per_audio_second=svc_cpu / audio,
        rss_per_session=(peak["rss"] - rss0) / n,
        audio_per_turn=audio / max(1, len(results)),
        connections=peak["conns"],
        connections_created=created,
        streams_peak=peak["streams"],
        failures=n - len(results),
    )
