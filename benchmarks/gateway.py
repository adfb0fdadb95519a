"""The speech gateway under load: N concurrent WebSocket conversations, 1 and 2 worker processes.

    .venv/bin/pip install -q -e '.[serve,bench]' && .venv/bin/python benchmarks/gateway.py

Three processes, as in a deployment: the local Polly service on its own (``polly-pipeline
local --latency realistic``: Polly's first-audio latency and network delay), the gateway
(``polly-pipeline serve --workers W``, pointed at it as at Amazon Polly), and this script,
whose N clients each hold one ``/v1/speak`` conversation open (a warm session) and ask one
question: the "Sure." answer of the time-to-first-audio comparison, sent token by token at a
real model's pace. The questions arrive evenly within one second, or within ten.

Time to first audio is measured at the client from its first token to the first audio frame.
The floor is the harness's plain rule (:meth:`harness.workloads.Workload.floor`): when the
first sentence is complete in the raw tokens, plus the service's first-audio latency and
network delay; the overhead is what the gateway (and the load) adds above it. Server CPU is
the gateway's worker processes' user + system time over the run, per second of audio
delivered. Each point also gives the CPU cores the clients (this process), the local service
and the gateway use while the questions arrive, and prints (on standard error) the overhead
in legs: how late a client sent its first sentence's last token, text in (until the gateway's
``segment`` event), the service leg (the session's time to first audio above the service's
own latency), audio out; and how many conversations each worker process accepted (read from
/proc: uvicorn's workers accept from one shared socket). A discarded warm-up rush comes first
(``--warm-up``): the service process is started by this run, and its first rush is not one a
deployment's users meet. Results go to ``benchmarks/results/gateway.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.common import LATENCY, REALISTIC_LLM, p50, pct
from harness.plain import first_boundary_token
from harness.scale import ServiceProcess, service_process
from harness.workloads import WORKLOADS, service_first_audio
from websockets.asyncio.client import ClientConnection, connect

from polly_pipeline.local.config import DEFAULT_CREDENTIALS, DEFAULT_REGION

WORKLOAD = next(w for w in WORKLOADS if w.key == "sure")
FLOOR = WORKLOAD.floor(REALISTIC_LLM, LATENCY)
#: The token that completes the first sentence (the floor's start).
BOUNDARY = first_boundary_token(WORKLOAD.tokens)
RESULTS = Path(__file__).parent / "results" / "gateway.md"
#: How many conversations open their session at once while the run is set up.
OPENING = 20


@dataclass
class Point:
    conversations: int
    workers: int
    spread: float  # seconds over which the questions arrive
    batch: float  # a client sends what arrived in this many seconds as one message (0: each)
    overhead_p50: float
    overhead_p99: float
    ttfa_p50: float
    failures: int
    cpu_per_audio_second: float
    audio_seconds: float
    load: float  # the machine's 1-minute load average after the run
    #: CPU cores each process used while the questions arrive and their first audio is due
    #: (from the first question to the last one's floor): the clients (this process), the
    #: local service, the gateway's workers.
    rush_cores: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: The conversations each worker process held during the rush (largest first).
    per_worker: tuple[int, ...] = ()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _established(port: int) -> set[int]:
    """Socket inodes of the established TCP connections whose local port is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(int(fields[9]))
    return inodes


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def _cmdline(process: Path) -> bytes:
    try:
        return (process / "cmdline").read_bytes()
    except OSError:
        return b""


def _workers(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == parent and b"resource_tracker" not in _cmdline(entry):
                found.append(int(entry.name))
    return found


#: The gateway under cProfile; the profile is written when uvicorn, after its graceful stop,
#: raises SIGTERM again (it restores the handler that was there before it).
_PROFILED = """
import cProfile, os, signal, sys
profile = cProfile.Profile()
def dump(*_):
    profile.disable()
    profile.dump_stats({out!r})
    os._exit(0)
signal.signal(signal.SIGTERM, dump)
sys.argv[0] = "polly-pipeline"
from polly_pipeline.cli import main
profile.enable()
main()
dump()
"""


class GatewayProcess:
    """``polly-pipeline serve --workers W`` pointed at the service, started and stopped."""

    def __init__(self, service: ServiceProcess, workers: int, profile: Path | None = None) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": DEFAULT_CREDENTIALS.access_key,
            "AWS_SECRET_ACCESS_KEY": DEFAULT_CREDENTIALS.secret_key,
            "AWS_REGION": DEFAULT_REGION,
        }
        start = (
            ("-c", _PROFILED.format(out=str(profile))) if profile else ("-m", "polly_pipeline.cli")
        )
        command = [
            *(sys.executable, *start),
            *("--log-level", "WARNING", "serve"),
            *("--port", str(self.port), "--workers", str(workers)),
            *("--backend", "aws", "--endpoint-url", service.endpoint_url),
            *("--ca-file", service.ca_file, "--region", DEFAULT_REGION),
        ]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.expected = workers

    async def ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                assert self.process.stderr is not None
                raise RuntimeError(f"the gateway exited: {self.process.stderr.read()[-2000:]}")
            if len(self.worker_pids()) >= self.expected:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    await writer.wait_closed()
                    await asyncio.sleep(1.0)  # every worker's lifespan done
                    return
                except OSError:
                    pass
            await asyncio.sleep(0.2)
        raise RuntimeError("the gateway did not start within 60 s")

    def worker_pids(self) -> list[int]:
        return _workers(self.process.pid) or [self.process.pid]

    def conversations_per_worker(self) -> tuple[int, ...]:
        """The clients' connections each worker process accepted (from /proc), largest first.

        uvicorn's workers accept from one shared listening socket; this shows how the kernel
        and the workers' accept loops spread the conversations.
        """
        accepted = _established(self.port)
        counts = (len(_socket_inodes(pid) & accepted) for pid in self.worker_pids())
        return tuple(sorted(counts, reverse=True))

    def cpu_seconds(self) -> float:
        return sum(_cpu_seconds(pid) for pid in self.worker_pids())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Outcome:
    ttfa: float | None = None
    audio_bytes: int = 0
    failed: str | None = None
    segment: float | None = None  # the first "segment" event, from the first token
    turn_ttfa: float | None = None  # the session's first text sent to its first audio
    late: float | None = None  # the first sentence's last token sent after its due time


async def _events_until(ws: ClientConnection, outcome: Outcome, t0: list[float]) -> None:
    while True:
        frame = await ws.recv()
        if isinstance(frame, bytes):
            if outcome.ttfa is None:
                outcome.ttfa = time.monotonic() - t0[0]
            outcome.audio_bytes += len(frame)
            continue
        event = json.loads(frame)
        if event["type"] == "segment" and outcome.segment is None:
            outcome.segment = time.monotonic() - t0[0]
        if event["type"] == "error":
            outcome.failed = f"{event['error']}: {event['message']}"
            return
        if event["type"] == "turn_done":
            outcome.turn_ttfa = event["metrics"]["time_to_first_audio"]
            return


class Gate:
    """Holds the questions back until every conversation is open (or failed to open)."""

    def __init__(self, n: int) -> None:
        self.opening = asyncio.Semaphore(OPENING)
        self.go = asyncio.Event()
        self.all_open = asyncio.Event()
        self._left = n

    def opened(self) -> None:
        self._left -= 1
        if self._left == 0:
            self.all_open.set()


async def conversation(port: int, delay: float, gate: Gate, batch: float = 0.0) -> Outcome:
    """One client: open the conversation, wait for its moment, ask, listen to the end."""
    outcome = Outcome()
    counted = False
    try:
        async with connect(f"ws://127.0.0.1:{port}/v1/speak", max_size=None) as ws:
            async with gate.opening:
                await ws.send(json.dumps({"type": "start", "voice": WORKLOAD.voice}))
                ready = json.loads(await asyncio.wait_for(ws.recv(), 60))
            gate.opened()
            counted = True
            if ready["type"] != "ready":
                outcome.failed = f"start: {ready}"
                return outcome
            await gate.go.wait()
            await asyncio.sleep(delay)
            t0 = [time.monotonic()]
            listener = asyncio.create_task(_events_until(ws, outcome, t0))
            interval = 1 / REALISTIC_LLM.tokens_per_second
            pending: list[str] = []
            window = t0[0] + REALISTIC_LLM.first_token_delay
            last = len(WORKLOAD.tokens) - 1
            for i, token in enumerate(WORKLOAD.tokens):
                at = t0[0] + REALISTIC_LLM.first_token_delay + i * interval
                if at > time.monotonic():
                    await asyncio.sleep(at - time.monotonic())
                pending.append(token)
                if i == last or at + interval >= window + batch:  # batch 0: every token
                    await ws.send(json.dumps({"text": "".join(pending)}))
                    pending.clear()
                    window = at + interval
                if i == BOUNDARY:
                    outcome.late = time.monotonic() - at
            await ws.send(json.dumps({"type": "end"}))
            await asyncio.wait_for(listener, 120)
    except Exception as exc:  # a failure of this conversation, counted
        outcome.failed = f"{type(exc).__name__}: {exc}"
    if not counted:
        gate.opened()
    if outcome.failed is None and outcome.ttfa is None:
        outcome.failed = "no audio"
    return outcome


def _print_breakdown(ok: list[Outcome]) -> None:
    """Where the overhead arose (stderr): text in, the service's leg, audio out."""
    boundary = FLOOR - service_first_audio(LATENCY)
    legs: dict[str, list[float]] = {
        "client sent late": [],
        "text in": [],
        "service leg": [],
        "audio out": [],
    }
    for o in ok:
        if o.ttfa is None or o.segment is None or o.turn_ttfa is None or o.late is None:
            continue
        legs["client sent late"].append(o.late)
        legs["text in"].append(o.segment - boundary - o.late)
        legs["service leg"].append(o.turn_ttfa - service_first_audio(LATENCY))
        legs["audio out"].append(o.ttfa - o.segment - o.turn_ttfa)
    print(
        "    over the floor: "
        + ", ".join(
            f"{name} p50 {p50(v) * 1000:.0f} / p99 {pct(v, 0.99) * 1000:.0f} ms"
            for name, v in legs.items()
            if v
        ),
        file=sys.stderr,
    )


async def _rush_cores(
    service: ServiceProcess, gateway: GatewayProcess, window: float
) -> tuple[float, float, float]:
    """CPU cores the clients, the service and the gateway use over the next ``window`` s."""

    def sample() -> tuple[float, float, float]:
        return (
            _cpu_seconds(os.getpid()),
            _cpu_seconds(service.process.pid),
            gateway.cpu_seconds(),
        )

    t0, before = time.monotonic(), sample()
    await asyncio.sleep(window)
    after, elapsed = sample(), time.monotonic() - t0
    clients, local, workers = ((a - b) / elapsed for a, b in zip(after, before, strict=True))
    return clients, local, workers


async def run_point(  # noqa: PLR0917
    service: ServiceProcess,
    n: int,
    workers: int,
    spread: float,
    batch: float = 0.0,
    profile: Path | None = None,
) -> Point:
    gateway = GatewayProcess(service, workers, profile if workers == 1 else None)
    try:
        await gateway.ready()
        gate = Gate(n)
        tasks = [
            asyncio.create_task(conversation(gateway.port, spread * i / n, gate, batch))
            for i in range(n)
        ]
        await asyncio.wait_for(gate.all_open.wait(), 300)
        await asyncio.sleep(1.0)  # let the gateway settle after the openings
        per_worker = gateway.conversations_per_worker()
        cpu0 = gateway.cpu_seconds()
        gate.go.set()
        rush = asyncio.create_task(_rush_cores(service, gateway, spread + FLOOR))
        outcomes = await asyncio.gather(*tasks)
        cpu = gateway.cpu_seconds() - cpu0
        rush_cores = await rush
    finally:
        gateway.stop()
    ok = [o for o in outcomes if o.failed is None and o.ttfa is not None]
    failures = [o.failed for o in outcomes if o.failed is not None]
    for reason in sorted(set(failures))[:3]:
        print(f"    failure: {reason}", file=sys.stderr)
    overheads = [o.ttfa - FLOOR for o in ok if o.ttfa is not None] or [float("nan")]
    _print_breakdown(ok)
    audio = sum(o.audio_bytes for o in ok) / 32000 or float("nan")
    return Point(
        conversations=n,
        workers=workers,
        spread=spread,
        batch=batch,
        overhead_p50=p50(overheads),
        overhead_p99=pct(overheads, 0.99),
        ttfa_p50=p50([o.ttfa for o in ok if o.ttfa is not None] or [float("nan")]),
        failures=len(failures),
        cpu_per_audio_second=cpu / audio,
        audio_seconds=audio,
        load=os.getloadavg()[0],
        rush_cores=rush_cores,
        per_worker=per_worker,
    )


def report(points: list[Point], started: str, cold: Point | None = None) -> str:
    ms = 1000
    lines = [
        "# Gateway: concurrent WebSocket conversations, 1 and 2 worker processes",
        "",
        f"Run {started} with `python benchmarks/gateway.py` on this machine: 2 cores, shared with "
        "other people's builds and tests while it ran (the load average after each point is "
        "beside it), so the figures are noisy; the service, the gateway and the clients all "
        "share the same two cores.",
        "",
        "Each conversation is one `/v1/speak` WebSocket with a warm session; it asks one question "
        f'(the "Sure." answer, {len(WORKLOAD.tokens)} tokens at '
        f"{REALISTIC_LLM.tokens_per_second:g} tokens/s after "
        f"{REALISTIC_LLM.first_token_delay:g} s) "
        "and listens to the whole answer. The local service runs in its own process with the "
        f"realistic latency model. The floor ({FLOOR * ms:.0f} ms from the first token) is the "
        "harness's plain rule: the first sentence complete in the raw tokens, plus the "
        "service's first-audio latency and network delay. Overhead = time to first audio at the "
        "client minus the floor. CPU = the gateway worker processes' user + system seconds per "
        "second of audio delivered.",
        "",
        "| conversations | workers | questions within | client messages | overhead p50 | "
        "overhead p99 | first audio p50 | failures | gateway CPU / audio s | "
        "conversations per worker | load |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p.conversations} | {p.workers} | {p.spread:g} s | "
            f"{'one per token' if not p.batch else f'one per {p.batch * ms:.0f} ms'} | "
            f"{p.overhead_p50 * ms:.0f} ms | "
            f"{p.overhead_p99 * ms:.0f} ms | {p.ttfa_p50 * ms:.0f} ms | {p.failures} | "
            f"{p.cpu_per_audio_second * ms:.1f} ms | {'/'.join(map(str, p.per_worker))} | "
            f"{p.load:.1f} |"
        )
    if cold is not None:
        lines += [
            "",
            f"Before these points, a discarded warm-up rush ({cold.conversations} "
            f"conversations, {cold.workers} worker(s), within 1 s) warmed the local service "
            "and the clients (each point above starts its own gateway): overhead p50 "
            f"{cold.overhead_p50 * ms:.0f} ms, p99 {cold.overhead_p99 * ms:.0f} ms, "
            f"{cold.failures} failures, load {cold.load:.1f}.",
        ]
    target = [p for p in points if p.conversations == 200 and p.spread == 1.0 and not p.batch]
    if target:
        lines += [
            "",
            "Target (2 workers, 200 questions within one second: p99 ≤ 100 ms over the "
            "floor, 0 failures), beside the single-process figure:",
            "",
        ]
        for p in sorted(target, key=lambda p: p.workers):
            verdict = "met" if p.overhead_p99 <= 0.1 and p.failures == 0 else "not met"
            lines.append(
                f"- {p.workers} worker(s): p99 {p.overhead_p99 * ms:.0f} ms over the floor, "
                f"{p.failures} failures ({verdict if p.workers == 2 else 'for comparison'})"
            )
    return "\n".join(lines) + "\n"


async def _warm_up(service: ServiceProcess, args: argparse.Namespace) -> Point | None:
    """One discarded rush before the measured points, on its own gateway (printed, reported).

    It warms what a deployment has warm and a fresh benchmark does not: the service (Amazon
    Polly is never cold; the local service stands in for it and starts with this run: its
    offline voice loads on the first synthesis and renders the answer's sentences once, its
    process grows to the rush's size) and this process's 200 clients. Every measured point
    still starts its own gateway, so the gateway's own start-up is in every figure.
    """
    sizes = [int(n) for n in args.sizes.split(",")]
    n = min(max(sizes), 200) if args.warm_up is None else args.warm_up
    if n <= 0:
        return None
    workers = max(int(w) for w in args.workers.split(","))
    point = await run_point(service, n, workers, 1.0)
    print(
        f"warm-up (discarded): {n} conversations, {workers} worker(s), within 1 s: "
        f"overhead p50 {point.overhead_p50 * 1000:.0f} ms, "
        f"p99 {point.overhead_p99 * 1000:.0f} ms, failures {point.failures}, "
        f"load {point.load:.1f}",
        flush=True,
    )
    return point


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,200,300", help="conversations per point")
    parser.add_argument("--workers", default="1,2", help="worker counts")
    parser.add_argument("--spreads", default="1,10", help="seconds the questions arrive within")
    parser.add_argument(
        "--batches",
        default="0",
        help="seconds of tokens a client sends as one message (0: one message per token); "
        "batched runs only for questions within 1 s",
    )
    parser.add_argument(
        "--service-streams",
        type=int,
        default=100,
        help="the local service's SETTINGS_MAX_CONCURRENT_STREAMS (streams per connection)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="cProfile the gateway of 1-worker points into this file (the last point's stays)",
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        default=None,
        help="conversations of the discarded first rush (default: the largest size, at most "
        "200, with the most workers; 0: none)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    points = []
    with service_process(max_concurrent_streams=args.service_streams) as service:
        cold = await _warm_up(service, args)
        runs = [
            (spread, n, workers, batch)
            for batch in map(float, args.batches.split(","))
            for spread in map(float, args.spreads.split(","))
            for n in map(int, args.sizes.split(","))
            for workers in map(int, args.workers.split(","))
            if not batch or spread == 1.0
        ]
        for spread, n, workers, batch in runs:
            point = await run_point(service, n, workers, spread, batch, args.profile)
            points.append(point)
            print(
                f"{n:4d} conversations, {workers} worker(s), within {spread:g} s, "
                f"batch {batch:g} s: "
                f"overhead p50 {point.overhead_p50 * 1000:.0f} ms, "
                f"p99 {point.overhead_p99 * 1000:.0f} ms, failures {point.failures}, "
                f"CPU/audio s {point.cpu_per_audio_second * 1000:.1f} ms, "
                f"rush cores clients/service/gateway "
                f"{'/'.join(f'{c:.2f}' for c in point.rush_cores)}, "
                f"conversations per worker {'/'.join(map(str, point.per_worker))}, "
                f"load {point.load:.1f}",
                flush=True,
            )
    args.output.write_text(report(points, started, cold))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    asyncio.run(main())
