"""Benchmark: time to first audio against an honest floor and naive competitors, in one run.

On the local service's realistic latency model, for five texts at a real model's pace (first
token 0.4 s, then 40 tokens/s), it measures side by side:

1. time to first audio from the LLM request, N interleaved repetitions per text, p50 and p90:
   this pipeline, a naive streaming client, SynthesizeSpeech per sentence; against the floor
   computed from the raw token stream by a plain regex (see ``harness/plain.py``) plus the
   service's first-audio latency;
2. the whole answer once per text and approach (and, labelled, whole answer then one
   stream): last audio and the listener's stalls (playback continuity);
3. scale: many concurrent sessions of this pipeline in one process;
4. components: event-stream decoding, segmenter CPU per token, event signing.

Writes ``benchmarks/results/report.md`` and PNG plots next to it.

    python benchmarks/run.py            # default: 15 repetitions, about 10 minutes
    python benchmarks/run.py --quick    # smoke run, about two minutes
    python benchmarks/run.py --no-scale # skip part 3
    python benchmarks/run.py --full     # adds 500 concurrent sessions
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from harness import components
from harness.approaches import APPROACHES, WHOLE, run_naive, run_pipeline, run_rest, run_whole
from harness.common import LATENCY, REALISTIC_LLM, SHORT_TOKENS, RunResult, p50
from harness.plain import RULE, PlainSplitter, first_boundary_token
from harness.report import (
    FLOOR_MARGIN,
    NAIVE_MARGIN,
    SCALE_FINDINGS,
    SCALE_NOTE,
    continuity_table,
    decision_table,
    met,
    ms,
    peers_ahead,
    plots,
    scale_table,
    ttfa_table,
)
from harness.scale import CONVERSATION, PATTERNS, RUSH, ScalePoint, scale_point, service_process
from harness.workloads import WORKLOADS, Workload, service_first_audio, token_arrival

from polly_pipeline.client.client import PollyStreamingClient
from polly_pipeline.local.background import BackgroundService
from polly_pipeline.local.config import DemoLLMConfig, LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session.session import SpeechSession

RESULTS = Path(__file__).with_name("results")
Runs = dict[str, dict[str, list[RunResult]]]
Full = dict[str, dict[str, RunResult]]


def load() -> str:
    """The machine's load, as ``uptime`` prints it."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


class Bench:
    """Warm clients for every approach and voice; runs one approach on one text."""

    def __init__(
        self, client: PollyStreamingClient, boto: Any, sessions: Mapping[str, SpeechSession]
    ) -> None:
        self.client = client
        self.boto = boto
        self.sessions = sessions

    async def one(self, key: str, w: Workload, llm: DemoLLMConfig, *, whole: bool) -> RunResult:
        await asyncio.sleep(0.1)  # let the spare stream settle, as between turns
        if key == "pipeline":
            return await run_pipeline(self.sessions[w.voice], w.tokens, llm, whole=whole)
        if key == "naive":
            return await run_naive(self.client, w.voice, w.tokens, llm, whole=whole)
        if key == "rest":
            return await run_rest(self.boto, w.voice, w.tokens, llm, whole=whole)
        return await run_whole(self.client, w.voice, w.tokens, llm)


async def compare(
    service: LocalPollyService,
    runs: int,
    llm: DemoLLMConfig,
    full_llm: DemoLLMConfig,
    full_texts: Sequence[Workload],
) -> tuple[Runs, Full]:
    """N interleaved first-audio runs of every approach on every text, then one full run each."""
    voices = sorted({w.voice for w in WORKLOADS})
    boto = service.botocore_client()
    many: Runs = {w.key: {k: [] for k in APPROACHES} for w in WORKLOADS}
    full: Full = {w.key: {} for w in full_texts}
    async with service.client() as client:
        for voice in voices:  # warm both connections, as a long-lived agent's would be
            await asyncio.to_thread(
                boto.synthesize_speech,
                Text="Warm up.",
                VoiceId=voice,
                OutputFormat="pcm",
                Engine="generative",
            )
            async for _ in client.start_speech_synthesis_stream(
                text="Warm up.", voice_id=voice, output_format="pcm"
            ):
                pass
        sessions = {v: SpeechSession(client, voice_id=v, output_format="pcm") for v in voices}
        await asyncio.gather(*(s.start() for s in sessions.values()))
        try:
            bench = Bench(client, boto, sessions)
            keys = list(APPROACHES)
            for i in range(runs):
                order = keys[i % len(keys) :] + keys[: i % len(keys)]  # rotate who goes first
                for w in WORKLOADS:
                    for key in order:
                        many[w.key][key].append(await bench.one(key, w, llm, whole=False))
                print(f"  repetition {i + 1}/{runs}", file=sys.stderr, flush=True)
            for w in full_texts:
                for key in [*keys, "whole"]:
                    full[w.key][key] = await bench.one(key, w, full_llm, whole=True)
                print(f"  whole answer: {w.key}", file=sys.stderr, flush=True)
        finally:
            await asyncio.gather(*(s.aclose() for s in sessions.values()))
    return many, full


async def scale(sizes: list[int]) -> list[ScalePoint]:
    points = []
    with service_process() as service:
        for n in sizes:
            for pattern in PATTERNS:
                points.append(await scale_point(service, n, pattern=pattern))
                print(f"  scale: {n} sessions ({pattern})", file=sys.stderr, flush=True)
    return points


def targets(floors: Mapping[str, float], many: Runs) -> list[str]:
    lines = ["| text | target | value | |", "|---|---|---|---|"]
    for w in WORKLOADS:
        ours = p50([r.ttfa for r in many[w.key]["pipeline"]])
        naive = p50([r.ttfa for r in many[w.key]["naive"]])
        lines.append(
            f"| {w.label} | pipeline p50 <= naive p50 + {ms(NAIVE_MARGIN)} ms "
            f"| {ms(ours)} vs {ms(naive)} ms ({ours * 1000 - naive * 1000:+.1f}) "
            f"| {met(ours <= naive + NAIVE_MARGIN)} |"
        )
        floor = floors[w.key]
        verdict = met(ours <= floor + FLOOR_MARGIN) if w.unambiguous else "n/a (ambiguous)"
        lines.append(
            f"| {w.label} | pipeline p50 <= floor + {ms(FLOOR_MARGIN)} ms "
            f"| {ms(ours)} vs {ms(floor)} ms ({ours * 1000 - floor * 1000:+.1f}) | {verdict} |"
        )
    return lines


def workload_lines(llm: DemoLLMConfig) -> list[str]:
    lines = [
        "| text | voice | characters | tokens | first sentence by the plain rule "
        "| completed by token | ... which arrives at (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in WORKLOADS:
        i = first_boundary_token(w.tokens)
        splitter = PlainSplitter()
        first = next(s for t in w.tokens for s in splitter.feed(t))
        first = first.strip().replace("|", "\\|")
        if len(first) > 50:
            first = first[:47] + "..."
        lines.append(
            f"| {w.label} | {w.voice} | {len(w.text)} | {len(w.tokens)} | `{first}` "
            f"| #{i} `{w.tokens[i]!r}` | {ms(token_arrival(i, llm))} |"
        )
    return lines


def build_report(  # noqa: PLR0917 (one call site; the parts of one report)
    args: argparse.Namespace,
    llm: DemoLLMConfig,
    full_llm: DemoLLMConfig,
    floors: Mapping[str, float],
    many: Runs,
    full: Full,
    points: list[ScalePoint],
    comp: dict[str, object],
    images: list[str],
    elapsed: float,
    loads: tuple[str, str],
) -> str:
    seg = comp["segmenter"]
    dec = comp["decoder"]
    sig = comp["signing"]
    assert isinstance(seg, dict)
    assert isinstance(dec, list)
    assert isinstance(sig, dict)
    flags = "".join(
        f" {f}" for f, on in (("--quick", args.quick), ("--no-scale", args.no_scale)) if on
    ) + (" --full" if args.full else "")
    first_audio = service_first_audio(LATENCY)
    lines = [
        "# polly-pipeline benchmark report",
        "",
        f"`python benchmarks/run.py{flags}` (repetitions={args.runs}); took {elapsed:.0f} s on "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}. The machine is shared: "
        "absolute times are noise beside the load, read the differences within one run.",
        "",
        f"- load before: `{loads[0]}`",
        f"- load after: `{loads[1]}`",
        "",
        "## Method",
        "",
        f"- Pace of a real model: first token after {llm.first_token_delay} s, then "
        f"{llm.tokens_per_second:g} tokens/s. Tokens as the demo model cuts its answers "
        "(`polly_pipeline.local.demo_answers.tokenize`, seed 0), replayed in-process on that "
        "schedule so every approach sees identical timing.",
        f"- Service: `LocalPollyService` with `LatencyModel.realistic()`: first audio "
        f"{LATENCY.first_audio * 1000:.0f} ms after a synthesis request, real-time factor "
        f"{LATENCY.real_time_factor}, network delay {LATENCY.network_delay * 1000:.0f} ms per "
        "outbound event, applied by the service to the bidirectional stream and to "
        "SynthesizeSpeech alike (no client-side clamp). It runs in a `BackgroundService` thread "
        "of this process (same GIL), so its work shows up as client latency for every approach.",
        f"- **Floor** per text = the arrival time of the first raw token at which the plain "
        f"regex {RULE} on the concatenated raw tokens sees the first sentence or heading line "
        "complete (a sentence end followed by whitespace, a newline, or 。！？), plus the "
        f"service's first-audio latency and network delay (= +{first_audio * 1000:.0f} ms, the "
        "figures the service applies). Nothing of this project's text layer is involved.",
        "- Approaches (module docstring of `benchmarks/harness/approaches.py`): "
        + "; ".join(f"**{k}**: {v}" for k, v in APPROACHES.items())
        + ". The naive client opens its stream with the low-level "
        "`PollyStreamingClient.open_stream` on the same warm HTTP/2 connection when the "
        "question is asked, cuts the raw tokens with the plain regex, sends each sentence as "
        "one TextEvent the moment the regex sees its end (the first with flush=True), sends "
        "markdown as written (no cleaner) and ends the input after the answer. SynthesizeSpeech "
        "requests go one at a time on a warm botocore HTTP/1.1 connection; the first audio is "
        "the first 1 KiB read of the first response body.",
        f"- First-audio runs: {args.runs} repetition(s); each repetition runs every text, every "
        "approach (the order rotates), each stopped at its first audio like a barge-in. "
        "One warm `SpeechSession` per voice for this pipeline.",
        f"- Full-answer runs: one per text ({', '.join(full)}) and approach at "
        f"{full_llm.tokens_per_second:g} tokens/s, plus the whole answer then one stream "
        "(raw text), for the last audio and the playback continuity.",
        "",
        *workload_lines(llm),
        "",
        "## Targets (issue 11)",
        "",
        "Where the first boundary is unambiguous, this pipeline's p50 must be within 10 ms of "
        "the floor; on every text within 5 ms of the naive client's p50.",
        "",
        *targets(floors, many),
        "",
        "## 1. Time to first audio (ms from the LLM request)",
        "",
        *ttfa_table(WORKLOADS, floors, many),
        "",
        "Where the milliseconds go (p50): *decided* = when the first text to speak was ready "
        "(this pipeline: its first segment out of the segmenter; naive: the regex saw the "
        "sentence end) minus the arrival of the token that completes the first sentence by the "
        "plain rule; *to audio* = first audio minus that moment (sending, the service's "
        f"{ms(service_first_audio(LATENCY))} ms, receiving, delivery to the sink).",
        "",
        *decision_table(WORKLOADS, llm, many),
        "",
        "Where a peer is ahead:",
        "",
        *peers_ahead(WORKLOADS, floors, many),
        "",
        "## 2. Whole answers: last audio and playback continuity",
        "",
        "A real-time playback clock starts at first audio; a stall is the listener's buffer "
        f"running dry (gaps between sentences). {full_llm.tokens_per_second:g} tokens/s. "
        f"'{WHOLE}' is the wait-for-everything reference, not a streaming client.",
        "",
        *continuity_table([w for w in WORKLOADS if w.key in full], full),
        "",
    ]
    if points:
        lines += [
            "## 3. Scale: concurrent sessions of this pipeline in one process",
            "",
            SCALE_NOTE,
            f"Each session is a warm `SpeechSession` speaking a shorter answer "
            f"({len(SHORT_TOKENS)} tokens, two sentences) at the realistic pace; all sessions "
            "share one client (one connection pool) in this process. The local service runs in "
            "its own process. *conversation*: the questions spread evenly over "
            f"{CONVERSATION:g} s; *rush*: over {RUSH:g} s, so all turns are active at once; "
            "*burst*: all in the same millisecond. Client CPU: the whole process and the "
            "event-loop thread alone; service CPU: the service process. RSS per session is "
            "(peak RSS during the run - RSS before) / sessions.",
            "",
            *scale_table(points),
            "",
            SCALE_FINDINGS,
        ]
    lines += [
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
        "| segmenter (cleaned tokens, `benchmarks/segmenter.py` method; target <= 10 us) "
        "| CPU us/token |",
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
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (a couple of minutes)")
    parser.add_argument("--no-scale", action="store_true", help="skip the scale part")
    parser.add_argument("--full", action="store_true", help="also 500 concurrent sessions")
    parser.add_argument("--runs", type=int, default=None, help="repetitions (default 15)")
    args = parser.parse_args()
    args.runs = args.runs or (2 if args.quick else 15)
    llm = REALISTIC_LLM
    full_llm = REALISTIC_LLM if not args.quick else DemoLLMConfig(0.4, 400.0)
    # a quick run plays one short answer in full; the reference answer alone is 110 s of audio
    full_texts = [w for w in WORKLOADS if w.key == "sure"] if args.quick else list(WORKLOADS)
    sizes = [1, 10] if args.quick else [1, 10, 50, 200] + ([500] if args.full else [])
    floors = {w.key: w.floor(llm, LATENCY) for w in WORKLOADS}
    before = load()
    started = time.monotonic()
    config = LocalServiceConfig(latency=LATENCY, max_concurrent_streams=100)
    with BackgroundService(config) as service:
        print("time to first audio and whole answers...", file=sys.stderr, flush=True)
        many, full = asyncio.run(compare(service, args.runs, llm, full_llm, full_texts))
    points: list[ScalePoint] = []
    if not args.no_scale:
        print("scale (the service in its own process)...", file=sys.stderr, flush=True)
        points = asyncio.run(scale(sizes))
    print("components...", file=sys.stderr, flush=True)
    comp: dict[str, object] = {
        "decoder": components.decoder_throughput(3 if args.quick else 5),
        "segmenter": components.segmenter_cpu(),
        "signing": components.signing_cost(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    images = plots(RESULTS, WORKLOADS, floors, many, full, points)
    report = build_report(
        args,
        llm,
        full_llm,
        floors,
        many,
        full,
        points,
        comp,
        images,
        time.monotonic() - started,
        (before, load()),
    )
    (RESULTS / "report.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
