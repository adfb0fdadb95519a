"""Benchmark: what the persistent session buys and costs, against the local service.

Measures, in one run on the local service's realistic latency model:

1. time to first audio from the first text: a warm SpeechSession turn vs a cold stream
   (new client: connect, TLS, HTTP/2 stream) vs a stream opened per turn on a warm connection;
2. keep-alive cost: events per minute, bytes on the wire per keep-alive, characters billed;
3. rollover cost: the largest gap between audio chunks across a planned rollover, against the
   largest gap in the same turn without one.

Absolute times on shared machines are noise; compare the ratios. Writes a markdown table to
``benchmarks/results/session_costs.md`` and prints it.

    python benchmarks/session_costs.py [--runs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from polly_pipeline.local.config import LatencyModel, LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.events import TextEvent, encode_input_event
from polly_pipeline.protocol.sigv4 import EventSigner
from polly_pipeline.session.events import StreamRollover
from polly_pipeline.session.session import SpeechSession

TEXT = "The session keeps a stream warm, so speech starts at once. "
RESULTS = Path(__file__).with_name("results") / "session_costs.md"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


async def first_audio_session(service: LocalPollyService, runs: int) -> list[float]:
    out = []
    async with service.client() as client, SpeechSession(client, voice_id="Joanna") as session:
        for _ in range(runs):
            await asyncio.sleep(0.05)  # let the spare stream settle, as between real turns
            turn = await session.begin_turn()
            await turn.send(TEXT, flush=True)
            await turn.finish()
            async for _ in turn.audio():
                pass
            assert turn.metrics.time_to_first_audio is not None
            out.append(turn.metrics.time_to_first_audio)
    return out


async def first_audio_stream(service: LocalPollyService, runs: int, *, cold: bool) -> list[float]:
    out = []
    shared = None if cold else service.client()
    try:
        for _ in range(runs):
            client = service.client() if cold else shared
            assert client is not None
            started = time.monotonic()
            async with client.open_stream(voice_id="Joanna", output_format="pcm") as stream:
                await stream.send_text(TEXT, flush=True)
                await stream.end_input()
                first = None
                async for _chunk in stream.audio():
                    first = first or time.monotonic() - started
            assert first is not None
            out.append(first)
            if cold:
                await client.aclose()
    finally:
        if shared is not None:
            await shared.aclose()
    return out


async def keepalive_cost(service: LocalPollyService, seconds: float) -> dict[str, float]:
    async with service.client() as client:
        session = SpeechSession(client, voice_id="Joanna", keepalive_interval=3.0)
        await session.start()
        before = sum(r.keep_alives for r in service.streams)
        billed_before = sum(r.request_characters for r in service.streams)
        cpu = time.process_time()
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu
        sent = sum(r.keep_alives for r in service.streams) - before
        billed = sum(r.request_characters for r in service.streams) - billed_before
        await session.aclose()
    signer = EventSigner(
        credentials=service.credentials,
        region=service.region,
        seed_signature="0" * 64,
        clock=lambda: datetime.now(UTC),
    )
    frame = len(signer.sign(encode_input_event(TextEvent("", "text", False))))
    return {
        "keep-alives per minute": sent * 60 / seconds,
        "bytes per keep-alive (signed frame)": frame,
        "characters billed while idle": billed,
        "CPU ms per idle minute (client + service)": cpu * 1000 * 60 / seconds,
    }


async def rollover_gap(service: LocalPollyService) -> dict[str, float]:
    async with service.client() as client:
        session = SpeechSession(client, voice_id="Joanna", max_stream_age=2.0)
        await session.start()
        turn = await session.begin_turn()
        arrivals: list[tuple[float, float]] = []

        async def feed() -> None:
            for i in range(14):
                await turn.send(f"Sentence {i} of a long answer keeps going. ", flush=i == 0)
                await asyncio.sleep(0.35)
            await turn.finish()

        feeder = asyncio.create_task(feed())
        start = time.monotonic()
        async for chunk in turn.audio():
            arrivals.append((time.monotonic() - start, chunk.seconds))
        await feeder
        rollovers = sum(isinstance(e, StreamRollover) for e in session.history)
        await session.aclose()
    # audio ahead of a real-time listener: a stall is when the buffer runs dry
    buffered, clock, stalls, worst = 0.0, arrivals[0][0], 0, 0.0
    for at, seconds in arrivals:
        buffered -= at - clock
        clock = at
        if buffered < 0:
            stalls += 1
            worst = max(worst, -buffered)
            buffered = 0.0
        buffered += seconds
    return {"rollovers": rollovers, "playback stalls": stalls, "worst stall (s)": worst}


async def main(runs: int) -> str:
    config = LocalServiceConfig(latency=LatencyModel.realistic())
    async with LocalPollyService(config) as service:
        warm = await first_audio_session(service, runs)
        per_turn = await first_audio_stream(service, runs, cold=False)
        cold = await first_audio_stream(service, runs, cold=True)
        keep = await keepalive_cost(service, 12.0)
        roll = await rollover_gap(service)
    base = statistics.median(warm)
    lines = [
        "# Session costs (local service, realistic latency model)",
        "",
        f"Latency model: {LatencyModel.realistic()}. {runs} runs each. Ratios are to the warm "
        "session's median.",
        "",
        "| time to first audio | p50 (ms) | p90 (ms) | ratio (p50) |",
        "|---|---|---|---|",
    ]
    for name, values in (
        ("SpeechSession turn (pre-warmed stream)", warm),
        ("new stream per turn, warm connection", per_turn),
        ("cold: new connection + stream", cold),
    ):
        lines.append(
            f"| {name} | {statistics.median(values) * 1000:.1f} | "
            f"{pct(values, 0.9) * 1000:.1f} | {statistics.median(values) / base:.2f} |"
        )
    lines += ["", "| keep-alive | value |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in keep.items()]
    lines += ["", "| rollover during a 14-sentence turn | value |", "|---|---|"]
    lines += [f"| {k} | {v:g} |" for k, v in roll.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    report = asyncio.run(main(parser.parse_args().runs))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(report)
