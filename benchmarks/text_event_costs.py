"""CPU and event-loop turns the client spends per token when text arrives token by token.

A report, not a test. The local service runs in its own process (``polly-pipeline local``,
started by ``harness.scale.service_process``);
each measurement runs in a fresh client process that opens one pcm stream and sends every
token of a 2,000-token answer with its own ``send_text`` call (no flush, no sentence end, so
the service stays quiet while the text flows; the client merges such tokens into fewer
TextEvents unless it was built with ``coalesce=0``, and older trees send one event per call):

- *burst*: the tokens are there at once; the producer awaits each ``send_text``;
- *paced*: one token every 2 ms (a fast model); the CPU of the same pacing loop without
  sending is subtracted.

CPU is the client process's (its event loop and awscrt's threads, which encrypt and write
each frame), from the first send until the transport has taken the last event, divided by the
number of tokens sent (each one ``send_text`` call, called "event" below); the loop thread's
share and the event loop's iterations (turns) are counted over the same span. The turns include
the producer's own (one per ``sleep`` when paced). Over the same span the TextEvents that went
on the wire (events signed) and the awscrt writes (``write_data`` calls) are counted, per token:
the client may merge tokens without a sentence or clause boundary into one TextEvent
(``coalesce``), and events queued during a pending write go out in one write.

With ``--before DIR`` (a checkout of an older tree) the old and the new client run
interleaved in one invocation, each in its own interpreter:

    git archive main | tar -x -C /tmp/before
    python benchmarks/text_event_costs.py --before /tmp/before

Writes ``benchmarks/results/text_event_costs.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "text_event_costs.md"
TOKENS = 2000
PACE = 0.002
#: The goal per TextEvent (issue 14).
TARGET_US = 100


def tokens(n: int) -> list[str]:
    """Word-sized tokens with their spaces, as a model streams them (no sentence end)."""
    words = ("the", "stream", "keeps", "every", "token", "of", "the", "answer", "in", "order")
    return [("" if i == 0 else " ") + words[i % len(words)] for i in range(n)]


async def measure(endpoint_url: str, ca_file: str, mode: str, n: int) -> dict[str, float]:
    """One stream, ``n`` TextEvents; CPU µs and loop turns per event."""
    from polly_pipeline.client import PollyStreamingClient  # noqa: PLC0415
    from polly_pipeline.local.config import DEFAULT_CREDENTIALS  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    turns = 0
    run_once = loop._run_once  # type: ignore[attr-defined]

    def counting() -> None:
        nonlocal turns
        turns += 1
        run_once()

    loop._run_once = counting  # type: ignore[attr-defined]
    counts = _count_signatures_and_writes()
    items = tokens(n)
    pace = PACE if mode == "paced" else 0.0
    baseline = thread_baseline = 0.0
    if pace:  # the pacing loop alone
        cpu, thread = time.process_time(), time.thread_time()
        for _ in items:
            await asyncio.sleep(pace)
        baseline = time.process_time() - cpu
        thread_baseline = time.thread_time() - thread
    client = PollyStreamingClient(
        region="us-east-1",
        endpoint_url=endpoint_url,
        credentials=DEFAULT_CREDENTIALS,
        ca_file=ca_file,
    )
    async with client, client.open_stream(voice_id="Joanna", output_format="pcm") as stream:
        await stream.send_text("")  # the connection and stream are warm before measuring
        await asyncio.sleep(0.2)
        turns = 0
        counts.clear()
        cpu, thread = time.process_time(), time.thread_time()
        for item in items:
            await stream.send_text(item)
            if pace:
                await asyncio.sleep(pace)
        while not await _written(stream):  # noqa: ASYNC110 (the tree's internals differ)
            await asyncio.sleep(0.001)
        cpu = time.process_time() - cpu - baseline
        thread = time.thread_time() - thread - thread_baseline
        counted = turns
        signed, writes = counts.get("sign", 0), counts.get("write", 0)
    return {
        "cpu_us_per_event": cpu / n * 1e6,
        "loop_cpu_us_per_event": thread / n * 1e6,
        "loop_turns_per_event": counted / n,
        "wire_events_per_token": signed / n,
        "writes_per_token": writes / n,
        "pacing_us_per_token": baseline / n * 1e6,
    }


def _count_signatures_and_writes() -> dict[str, int]:
    """Count events signed (one per event on the wire) and awscrt body writes, from now on."""
    from awscrt.http import Http2ClientStream  # noqa: PLC0415

    from polly_pipeline.protocol.event_signing import EventSigner  # noqa: PLC0415

    counts: dict[str, int] = {}
    sign, write = EventSigner.sign, Http2ClientStream.write_data

    def counting_sign(self: Any, payload: bytes) -> bytes:
        counts["sign"] = counts.get("sign", 0) + 1
        return sign(self, payload)

    def counting_write(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["write"] = counts.get("write", 0) + 1
        return write(self, *args, **kwargs)

    EventSigner.sign = counting_sign  # type: ignore[method-assign]
    Http2ClientStream.write_data = counting_write  # type: ignore[method-assign]
    return counts


async def _written(stream: Any) -> bool:
    """True once the connection took every queued event (whatever the tree's internals)."""
    await asyncio.sleep(0)
    queue = getattr(stream, "_queue", None)  # the tree before the state machine
    if queue is not None:
        return bool(queue.empty())
    held = getattr(stream, "_held", None)  # text held to be merged (coalesce)
    return bool(stream._machine.pending_events == 0 and not held)


def child(args: argparse.Namespace) -> None:
    result = asyncio.run(measure(args.endpoint, args.ca, args.mode, args.tokens))
    print(json.dumps(result))


def run_child(root: str, endpoint: str, ca: str, mode: str, n: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": root}
    out = subprocess.run(
        [
            *(sys.executable, __file__, "--child", "--endpoint", endpoint, "--ca", ca),
            *("--mode", mode, "--tokens", str(n)),
        ],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a checkout of the tree to compare with")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=TOKENS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="burst", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    after = str(HERE.parent)
    trees = {"before": args.before, "after": after} if args.before else {"now": after}
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    sys.path.insert(0, str(HERE))
    from harness.scale import service_process  # noqa: PLC0415

    load_start = os.getloadavg()[0]
    with service_process() as svc:
        endpoint, ca = svc.endpoint_url, svc.ca_file
        for _ in range(args.repeats):
            for mode in ("burst", "paced"):
                for name, root in trees.items():
                    result = run_child(root, endpoint, ca, mode, args.tokens)
                    runs.setdefault((name, mode), []).append(result)
    load = os.getloadavg()[0]
    lines = [
        "# Client cost per TextEvent, token by token (local service in its own process)",
        "",
        f"{args.tokens} tokens per run, one `send_text` each, median of {args.repeats} "
        "interleaved runs; "
        f"load average {load_start:.1f} at the start, {load:.1f} at the end, on "
        f"{os.cpu_count()} CPUs.",
        "",
        "| mode | tree | CPU µs per event (process) | range over the runs "
        "| of which the event loop's thread | loop turns per event "
        "| TextEvents on the wire per token | writes per token | pacing loop alone (subtracted) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, mode), results in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cpu = median(r["cpu_us_per_event"] for r in results)
        loop_cpu = median(r["loop_cpu_us_per_event"] for r in results)
        turns = median(r["loop_turns_per_event"] for r in results)
        wire = median(r["wire_events_per_token"] for r in results)
        writes = median(r["writes_per_token"] for r in results)
        low = min(r["cpu_us_per_event"] for r in results)
        high = max(r["cpu_us_per_event"] for r in results)
        pacing = median(r["pacing_us_per_token"] for r in results)
        lines.append(
            f"| {mode} | {name} | {cpu:.0f} | {low:.0f}-{high:.0f} | {loop_cpu:.0f} | {turns:.2f} "
            f"| {wire:.3f} | {writes:.3f} | {pacing:.0f} |"
        )
    lines += ["", f"Target: at most {TARGET_US} µs CPU per event (process)."]
    for (name, mode), results in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if name == "before":
            continue
        cpu = median(r["cpu_us_per_event"] for r in results)
        verdict = "met" if cpu <= TARGET_US else f"not met: {cpu - TARGET_US:.0f} µs over"
        lines.append(f"- {mode}, {name}: {cpu:.0f} µs, {verdict}")
    report = "\n".join(lines) + "\n"
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
