"""Benchmark: polly-pipeline against the other ways to speak a streaming LLM answer.

One run, on the local service's realistic latency model, compares side by side:

1. time to first audio from the LLM request: this pipeline; waiting for the whole answer and
   then one stream (amazon-polly-streaming); SynthesizeSpeech per sentence over HTTP/1.1,
   sequential and concurrent (Pipecat, LiveKit Agents, vocode); with the lower bound and the
   overhead above it;
2. playback continuity on the reference workload (stalls after first audio);
3. scale: many concurrent sessions in one process;
4. components: event-stream decoding, segmenter CPU per token, event signing.

Absolute times on shared machines are noise; read the ratios. Writes
``benchmarks/results/report.md`` and PNG plots next to it.

    python benchmarks/run.py            # default, a few minutes
    python benchmarks/run.py --quick    # smoke run, about a minute
    python benchmarks/run.py --full     # adds 500 concurrent sessions
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import components
from harness.approaches import APPROACHES, run_pipeline, run_rest, run_whole
from harness.common import (
    LATENCY,
    REALISTIC_LLM,
    REFERENCE_TOKENS,
    SERVICE_FLOOR,
    SHORT_TOKENS,
    VOICE,
    RunResult,
    p50,
    pct,
    stalls,
)
from harness.report import (
    FINDINGS,
    continuity_table,
    latency_table,
    met,
    ms,
    plots,
    scale_table,
)
from harness.scale import CONVERSATION, PATTERNS, RUSH, ScalePoint, scale_point, service_process

from polly_pipeline.local.background import BackgroundService
from polly_pipeline.local.config import DemoLLMConfig, LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session.session import SpeechSession

RESULTS = Path(__file__).with_name("results")


async def compare(
    service: LocalPollyService, runs: int, fast: DemoLLMConfig, ref_llm: DemoLLMConfig
) -> tuple[dict[str, list[RunResult]], dict[str, RunResult]]:
    """Many runs of every approach (interleaved), then one reference run of each."""
    boto = service.botocore_client()
    await asyncio.to_thread(  # warm the HTTP/1.1 connection, as a long-lived agent would
        boto.synthesize_speech, Text="Warm up.", VoiceId=VOICE, OutputFormat="pcm"
    )
    many: dict[str, list[RunResult]] = {k: [] for k in APPROACHES}
    ref: dict[str, RunResult] = {}
    async with service.client() as client:
        async for _ in client.start_speech_synthesis_stream(text="Warm up.", voice_id=VOICE):
            pass  # warm the HTTP/2 connection for the one-shot approach
        async with SpeechSession(client, voice_id=VOICE, output_format="pcm") as session:

            async def one(key: str, llm: DemoLLMConfig, whole: bool) -> RunResult:
                await asyncio.sleep(0.1)  # let the spare stream settle, as between turns
                if key == "pipeline":
                    return await run_pipeline(session, REFERENCE_TOKENS, llm, whole=whole)
                if key == "whole":
                    return await run_whole(client, REFERENCE_TOKENS, llm, whole=whole)
                conc = key == "rest_conc"
                return await run_rest(boto, REFERENCE_TOKENS, llm, concurrent=conc, whole=whole)

            for i in range(runs):
                for key in APPROACHES:
                    many[key].append(await one(key, fast, False))
                print(f"  run {i + 1}/{runs}", file=sys.stderr, flush=True)
            for key in APPROACHES:
                ref[key] = await one(key, ref_llm, True)
                print(f"  reference: {key}", file=sys.stderr, flush=True)
    return many, ref


async def scale(sizes: list[int]) -> list[ScalePoint]:
    points = []
    with service_process() as service:
        for n in sizes:
            for pattern in PATTERNS:
                points.append(await scale_point(service, n, pattern=pattern))
                print(f"  scale: {n} sessions ({pattern})", file=sys.stderr, flush=True)
    return points


def build_report(  # noqa: PLR0917 (one call site; the parts of one report)
    args: argparse.Namespace,
    fast: DemoLLMConfig,
    ref_llm: DemoLLMConfig,
    many: dict[str, list[RunResult]],
    ref: dict[str, RunResult],
    points: list[ScalePoint],
    comp: dict[str, object],
    images: list[str],
    elapsed: float,
) -> str:
    ours = many["pipeline"]
    over = [r.overhead for r in ours]
    ref_stalls = stalls(ref["pipeline"].arrivals)
    seg = comp["segmenter"]
    dec = comp["decoder"]
    sig = comp["signing"]
    assert isinstance(seg, dict)
    assert isinstance(dec, list)
    assert isinstance(sig, dict)
    at200 = {p.arrivals: p for p in points if p.sessions == 200}
    p200 = at200.get("conversation")
    ref_tokens = len(REFERENCE_TOKENS)
    lines = [
        "# polly-pipeline benchmark report",
        "",
        f"`python benchmarks/run.py{' --quick' if args.quick else ''}"
        f"{' --full' if args.full else ''}` (runs={args.runs}); took {elapsed:.0f} s on "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}. Absolute times on a shared "
        "machine are noise: read the ratios.",
        "",
        "## Reference workload",
        "",
        f"- Text: `polly_pipeline.local.demo_llm.REFERENCE_ANSWER` (markdown, "
        f"{sum(map(len, REFERENCE_TOKENS))} characters), cut by `tokenize(seed=0)` into "
        f"{ref_tokens} tokens of 1-4 characters.",
        f"- LLM pace (reference runs): first token after {ref_llm.first_token_delay} s, then "
        f"{ref_llm.tokens_per_second:g} tokens/s (answer complete after "
        f"{ref_llm.first_token_delay + (ref_tokens - 1) / ref_llm.tokens_per_second:.1f} s). "
        "The demo LLM's token schedule is reproduced in-process (same tokens, same pacing as "
        "`DemoLLMConfig`), without its HTTP endpoint, so every approach sees identical timing.",
        f"- LLM pace (many-runs part, {args.runs} runs per approach, interleaved): first token "
        f"after {fast.first_token_delay} s, then {fast.tokens_per_second:g} tokens/s: faster "
        "than a real model, so the many runs fit in the time budget. It shortens the whole-answer "
        "approach's wait; the others depend only on the first sentence.",
        f"- Service: `LocalPollyService` with `LatencyModel.realistic()` = first audio "
        f"{LATENCY.first_audio * 1000:.0f} ms after a synthesis request, real-time factor "
        f"{LATENCY.real_time_factor}, network delay {LATENCY.network_delay * 1000:.0f} ms per "
        "outbound event. For parts 1 and 2 it runs in a `BackgroundService` thread (own event "
        "loop) in the same process as the clients: it shares the GIL, so its work (signature "
        "checks, botocore parsing, espeak-ng synthesis, encoding) shows up as client latency. "
        "For part 3 it runs in its own process (`polly-pipeline local --latency realistic`), "
        "as Amazon Polly would. Both machines' worth of work share these 2 CPUs.",
        f"- Voice `{VOICE}`, pcm 16 kHz; warm connections for every approach (a warm "
        "`SpeechSession` for ours, a warmed HTTP/2 connection for the one-shot stream, a warmed "
        "botocore HTTP/1.1 pool for SynthesizeSpeech).",
        f"- Lower bound = the moment the first segment is ready to send (for the whole-answer "
        f"approach: the whole text) + service first-audio latency + network delay "
        f"(= +{SERVICE_FLOOR * 1000:.0f} ms). Overhead = time to first audio - lower bound.",
        "- SynthesizeSpeech on the local service does not apply the latency model, so the REST "
        "approaches get it added client-side (audio playable no earlier than request start + "
        f"{SERVICE_FLOOR * 1000:.0f} ms; no real-time factor): generous to them. They use this "
        "package's cleaner and segmenter, so only the transport differs.",
        "",
        "## Targets",
        "",
        "| target | value | |",
        "|---|---|---|",
        f"| overhead above lower bound, 1 session, p50 <= 5 ms | {ms(p50(over))} ms "
        f"| {met(p50(over) <= 0.005)} |",
        f"| overhead above lower bound, 1 session, p99 <= 20 ms | {ms(pct(over, 0.99))} ms "
        f"| {met(pct(over, 0.99) <= 0.020)} |",
    ]
    if p200 is not None:
        lines.append(
            f"| overhead p99 at 200 concurrent sessions <= 50 ms | {ms(p200.overhead_p99)} ms "
            f"(conversation: 200 questions over {CONVERSATION:g} s) "
            f"| {met(p200.overhead_p99 <= 0.050)} |"
        )
        for kind, what in (
            ("rush", f"200 questions within {RUSH:g} s, all 200 turns active at once"),
            ("burst", "200 questions in the same millisecond"),
        ):
            if kind in at200:
                p = at200[kind]
                lines.append(
                    f"| (stress, not the target) {what} | {ms(p.overhead_p99)} ms "
                    f"| {met(p.overhead_p99 <= 0.050)} |"
                )
    dec_ok = all(float(row["speedup"]) >= 1.0 for row in dec)
    lines += [
        f"| zero stalls after first audio, reference workload | {ref_stalls[0]} stalls, "
        f"{ref_stalls[1]:.2f} s | {met(ref_stalls[0] == 0)} |",
        "| segmenter <= 20 us CPU/token | "
        + ", ".join(f"{k}: {v:.1f} us" for k, v in seg.items())
        + f" | {met(all(v <= 20 for v in seg.values()))} |",
        "| decoder at least as fast as botocore | "
        + ", ".join(f"{row['workload']}: {float(row['speedup']):.2f}x" for row in dec)
        + f" | {met(dec_ok)} |",
        "",
        "## 1. Time to first audio (from the LLM request)",
        "",
        f"{args.runs} runs per approach, many-runs pace.",
        "",
        *latency_table(many),
        "",
        "## 2. Playback continuity (reference workload, realistic LLM pace)",
        "",
        "A real-time playback clock starts at first audio; a stall is the listener's buffer "
        "running dry.",
        "",
        *continuity_table(ref),
        "",
        "## 3. Scale: concurrent sessions in one process",
        "",
        f"Each session is a warm `SpeechSession` speaking a shorter answer ({len(SHORT_TOKENS)} "
        "tokens, two sentences) at the realistic pace; all sessions share one client (one "
        "connection pool) in this process. The local service runs in its own process. "
        "Every session stays open (warm, kept alive) for the whole run. *conversation*: each "
        f"session asks once, the questions spread evenly over {CONVERSATION:g} s (one answer "
        f"plays for {points[0].audio_per_turn if points else float('nan'):.1f} s): N users in "
        "conversation. *rush*: the questions spread over "
        f"{RUSH:g} s, shorter than a turn, so all N turns are generated and synthesized at once "
        "(*active peak*). *burst*: all ask in the same millisecond with the same tokens, so all "
        "first segments, TextEvents and first audio coincide: the "
        "worst case. Client CPU: the whole process (event loop + awscrt's threads) and the "
        "event-loop thread alone; service CPU: the service process. RSS per session is (peak "
        "RSS during the run - RSS before) / sessions; each session holds two streams (active + "
        "warm spare).",
        "",
        *scale_table(points),
        "",
        "## 4. Components",
        "",
        "| event-stream decode (16 KiB reads) | ours MB/s | botocore MB/s | ours msg/s "
        "| botocore msg/s | ours / botocore |",
        "|---|---|---|---|---|---|",
    ]
    for row in dec:
        lines.append(
            f"| {row['workload']} | {float(row['ours_mb_s']):.0f} | "
            f"{float(row['botocore_mb_s']):.0f} | {float(row['ours_msg_s']):.0f} | "
            f"{float(row['botocore_msg_s']):.0f} | {float(row['speedup']):.2f}x |"
        )
    lines += [
        "",
        "| segmenter (cleaned tokens, `benchmarks/segmenter.py` method) | CPU us/token |",
        "|---|---|",
        *[f"| {k} | {v:.1f} |" for k, v in seg.items()],
        "",
        "| event signing (`EventSigner.sign`) | us/event |",
        "|---|---|",
        f"| sign an encoded TextEvent | {sig['sign_us']:.1f} |",
        f"| encode + sign | {sig['encode_and_sign_us']:.1f} |",
        "",
        "## Plots",
        "",
        *[f"![{name}]({name})" for name in images],
        "",
    ]
    lines += [FINDINGS]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (~1 minute)")
    parser.add_argument("--full", action="store_true", help="also 500 concurrent sessions")
    parser.add_argument("--runs", type=int, default=None, help="runs per approach (default 20)")
    args = parser.parse_args()
    args.runs = args.runs or (3 if args.quick else 20)
    fast = DemoLLMConfig(first_token_delay=0.4, tokens_per_second=400.0)
    ref_llm = REALISTIC_LLM if not args.quick else DemoLLMConfig(0.4, 160.0)
    sizes = [1, 10, 50] if args.quick else [1, 10, 50, 200] + ([500] if args.full else [])
    started = time.monotonic()
    config = LocalServiceConfig(latency=LATENCY, max_concurrent_streams=100)
    with BackgroundService(config) as service:
        print("comparing approaches...", file=sys.stderr, flush=True)
        many, ref = asyncio.run(compare(service, args.runs, fast, ref_llm))
    print("scale (the service in its own process)...", file=sys.stderr, flush=True)
    points = asyncio.run(scale(sizes))
    print("components...", file=sys.stderr, flush=True)
    comp: dict[str, object] = {
        "decoder": components.decoder_throughput(3 if args.quick else 5),
        "segmenter": components.segmenter_cpu(),
        "signing": components.signing_cost(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    images = plots(RESULTS, many, ref, points)
    report = build_report(
        args, fast, ref_llm, many, ref, points, comp, images, time.monotonic() - started
    )
    (RESULTS / "report.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
