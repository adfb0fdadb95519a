"""Soak: many concurrent SpeechSessions, many turns each, with faults at a low rate.

Runs ``--sessions`` sessions (default 20) of ``--turns`` turns (default 50) each against the
local service (on its own thread), which injects a random fault into about 2% of streams.
Checks that every turn ended with audio and that every segment it sent was spoken (the
service's spoken records), and samples the process RSS and the asyncio task count every few
seconds. Prints a markdown report and writes it to ``benchmarks/results/soak.md``.

    python benchmarks/soak.py [--sessions 20] [--turns 50] [--rate 0.02] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import PollyPipelineError
from polly_pipeline.local.background import BackgroundService
from polly_pipeline.local.config import Fault, FaultPlan, LocalServiceConfig
from polly_pipeline.session.events import RetryPolicy
from polly_pipeline.session.session import SpeechSession
from polly_pipeline.transport import Timeouts

RESULTS = Path(__file__).parent / "results" / "soak.md"
KINDS = ("reset", "goaway", "drop", "stall", "throttle", "service_failure")
POINTS = ("before_headers", "first_event", "mid_stream", "on_close")
TIMEOUTS = Timeouts(connect=3.0, response_headers=2.0, read=2.0, write=2.0, close=1.0)
RETRY = RetryPolicy(max_attempts=6, base_delay=0.05, max_delay=0.5)


@dataclass
class Sample:
    at: float
    rss_kib: int
    tasks: int


@dataclass
class Totals:
    turns: int = 0
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    retries: int = 0
    audio_seconds: float = 0.0
    sent: list[str] = field(default_factory=list)


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def texts_for(session_id: int, turn_id: int) -> list[str]:
    return [
        f"Session {session_id} turn {turn_id} begins. ",
        f"It ends with item {session_id * 1000 + turn_id}. ",
    ]


async def one_session(
    client: PollyStreamingClient, session_id: int, turns: int, totals: Totals
) -> None:
    async with SpeechSession(
        client, voice_id="Joanna", keepalive_interval=0.5, retry=RETRY, seed=session_id
    ) as session:
        for turn_id in range(turns):
            texts = texts_for(session_id, turn_id)
            totals.turns += 1
            try:
                turn = await session.begin_turn()
                for i, text in enumerate(texts):
                    await turn.send(text, flush=i == 0)
                await turn.finish()
                seconds = sum([chunk.seconds async for chunk in turn.audio()])
            except PollyPipelineError as exc:
                totals.failed.append(f"session {session_id} turn {turn_id}: {exc!r}")
                continue
            if seconds <= 0:
                totals.failed.append(f"session {session_id} turn {turn_id}: no audio")
                continue
            totals.ok += 1
            totals.sent += texts
            totals.audio_seconds += seconds
            totals.retries += turn.metrics.retries


async def sampler(samples: list[Sample], started: float, every: float) -> None:
    while True:
        samples.append(Sample(time.monotonic() - started, rss_kib(), len(asyncio.all_tasks())))
        await asyncio.sleep(every)


async def soak(args: argparse.Namespace) -> str:
    kinds = tuple(Fault(kind, at) for kind in KINDS for at in POINTS)  # type: ignore[arg-type]
    plan = FaultPlan(rate=args.rate, kinds=kinds, seed=args.seed)
    config = LocalServiceConfig(inbound_event_timeout=2.0, max_stream_duration=60.0, faults=plan)
    totals = Totals()
    samples: list[Sample] = []
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory() as tmp,
        BackgroundService(config, ca_file=Path(tmp) / "ca.pem") as svc,
    ):
        sampling = asyncio.create_task(sampler(samples, started, args.sample_every))
        async with svc.client(timeouts=TIMEOUTS, pool_size=4) as client:
            await asyncio.gather(
                *(one_session(client, n, args.turns, totals) for n in range(args.sessions))
            )
            connections_open = client.pool.stats().connections_open
        connections_after = client.pool.stats().connections_open
        await asyncio.sleep(0.2)
        sampling.cancel()
        await asyncio.gather(sampling, return_exceptions=True)
        samples.append(Sample(time.monotonic() - started, rss_kib(), len(asyncio.all_tasks())))
        spoken = "".join("".join(r.spoken) for r in svc.streams)
        streams = len(svc.streams)
        outcomes: dict[str, int] = {}
        for record in svc.streams:
            if record.outcome.startswith("fault:"):
                outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
    elapsed = time.monotonic() - started
    lost = [text for text in totals.sent if text not in spoken]
    rss = [s.rss_kib for s in samples]
    lines = [
        "# Soak: concurrent SpeechSessions with injected faults",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; `python benchmarks/soak.py "
        f"--sessions {args.sessions} --turns {args.turns} --rate {args.rate} --seed {args.seed}`.",
        "Local service on its own thread in the same process (RSS covers client and service).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| sessions x turns | {args.sessions} x {args.turns} |",
        f"| turns run / with audio | {totals.turns} / {totals.ok} |",
        f"| turns failed | {len(totals.failed)} |",
        f"| segments sent / lost (not in the service's spoken records) | "
        f"{len(totals.sent)} / {len(lost)} |",
        f"| streams opened at the service | {streams} |",
        f"| faults injected (survived) | {len(plan.injected)} |",
        f"| turn retries | {totals.retries} |",
        f"| audio seconds | {totals.audio_seconds:.0f} |",
        f"| wall time | {elapsed:.1f} s |",
        f"| RSS first / last / max | {rss[0] / 1024:.1f} / {rss[-1] / 1024:.1f} / "
        f"{max(rss) / 1024:.1f} MiB |",
        f"| asyncio tasks: max during / at the end | {max(s.tasks for s in samples)} / "
        f"{samples[-1].tasks} |",
        f"| pool connections open: sessions closed / client closed | {connections_open} / "
        f"{connections_after} |",
        "",
        "A goaway or drop fault ends the whole HTTP/2 connection, so every stream multiplexed"
        " on it fails and retries: turn retries exceed faults injected.",
        "",
        "Faults by kind and point: "
        + (
            ", ".join(f"{k.removeprefix('fault:')} {v}" for k, v in sorted(outcomes.items()))
            or "none"
        ),
        "",
        "RSS samples (s: MiB, tasks): "
        + ", ".join(f"{s.at:.0f}: {s.rss_kib / 1024:.0f}, {s.tasks}" for s in samples),
    ]
    if totals.failed or lost:
        lines += ["", "## Problems", ""]
        lines += [f"- {f}" for f in totals.failed[:20]]
        lines += [f"- lost: {text!r}" for text in lost[:20]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--rate", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample-every", type=float, default=3.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = asyncio.run(soak(args))
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)


if __name__ == "__main__":
    main()
