"""Benchmark: LiveKit's own Polly TTS against polly-pipeline-livekit, in the same AgentSession.

Both speak two answers (the demo model's reference answer, long and in markdown, and a short
conversational one that opens with "Sure."), written by a scripted LLM at a model's pace
(first token 0.4 s, then 40 tokens/s), through LiveKit's real ``AgentSession`` (its LLM and TTS
nodes, its audio forwarding) into a recording audio output, against the local Polly service
with its realistic latency model, which its ``SynthesizeSpeech`` applies too (first audio,
real-time factor, network delay):

- ``livekit-plugins-aws``: LiveKit's ``aws.TTS`` (``SynthesizeSpeech`` once per sentence, mp3
  decoded by LiveKit), which ``AgentSession`` wraps in its sentence ``StreamAdapter`` itself,
  pointed at the local service with ``AWS_ENDPOINT_URL_POLLY`` and the local CA in
  ``AWS_CA_BUNDLE``.
- ``polly-pipeline-livekit``: this project's streaming TTS on a warm ``SpeechSession``.

Measured per run, from the LLM request: time to first audio at the session's audio output,
time to the last audio, and playback continuity: a listener that starts with the first frame
and plays in real time; each time it runs dry before the last frame is a gap. The approaches
alternate run by run (one warm-up run each is not counted); the machine's load is reported.

    .venv/bin/pip install -e . -e 'plugins/polly-pipeline-livekit[bench]'
    .venv/bin/python benchmarks/bridges_livekit.py          # writes results/bridges_livekit.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from harness.common import LATENCY, REALISTIC_LLM, VOICE, pct, stalls
from harness.workloads import CONVERSATIONAL_ANSWER

from polly_pipeline.local.background import BackgroundService
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.demo_answers import REFERENCE_ANSWER, tokenize
from polly_pipeline.local.service import LocalPollyService

try:
    from livekit.agents import Agent, AgentSession, tts
    from livekit.plugins import aws
    from polly_pipeline_livekit import TTS
    from polly_pipeline_livekit.testing import RecordingAudioOutput, ScriptedLLM
except ImportError as exc:  # pragma: no cover - a missing extra
    sys.exit(f"{exc}; install: .venv/bin/pip install -e 'plugins/polly-pipeline-livekit[bench]'")

RESULTS = Path(__file__).parent / "results" / "bridges_livekit.md"
THEIRS = "livekit-plugins-aws"
OURS = "polly-pipeline-livekit"
WORKLOADS = {
    "reference answer": tokenize(REFERENCE_ANSWER),
    "conversational answer": tokenize(CONVERSATIONAL_ANSWER),
}
#: A gap a listener hears (shorter ones are below the output's 10 ms frame granularity).
AUDIBLE = 0.02


@dataclass(frozen=True)
class Run:
    """One spoken answer: seconds from the LLM request."""

    first_audio: float
    last_audio: float
    audio_seconds: float
    gaps: int
    gap_seconds: float
    longest_gap: float


async def speak_once(engine: tts.TTS[Any], tokens: Sequence[str]) -> Run:
    """One reply of a fresh AgentSession (the TTS is shared across runs, as in an agent)."""
    llm = ScriptedLLM(
        list(tokens),
        first_token_delay=REALISTIC_LLM.first_token_delay,
        tokens_per_second=REALISTIC_LLM.tokens_per_second,
    )
    session: AgentSession = AgentSession(tts=engine)
    output = RecordingAudioOutput()
    session.output.audio = output
    await session.start(Agent(instructions="Explain streaming speech.", llm=llm))
    try:
        session.generate_reply(user_input="How does streaming speech work?")
        await asyncio.wait_for(output.flushed.wait(), 300)  # every frame is out
    finally:
        await session.aclose()  # skips the rest of the simulated playback
    asked = llm.requests[0]
    arrivals = [(f.at, f.frame.duration) for f in output.frames]
    count, total, longest = stalls(arrivals, tolerance=AUDIBLE)
    return Run(
        first_audio=arrivals[0][0] - asked,
        last_audio=arrivals[-1][0] - asked,
        audio_seconds=sum(d for _, d in arrivals),
        gaps=count,
        gap_seconds=total,
        longest_gap=longest,
    )


def their_tts(service: LocalPollyService) -> tts.TTS[Any]:
    """LiveKit's AWS TTS, pointed at the local service by endpoint override and CA bundle."""
    os.environ["AWS_ENDPOINT_URL_POLLY"] = service.endpoint_url
    os.environ["AWS_CA_BUNDLE"] = str(service.ca_file)
    creds = service.credentials
    return aws.TTS(
        voice=VOICE,
        speech_engine="generative",
        sample_rate=16000,
        region=service.region,
        api_key=creds.access_key,
        api_secret=creds.secret_key,
    )


Results = dict[str, dict[str, list[Run]]]


async def measure(service: LocalPollyService, runs: int) -> Results:
    results: Results = {w: {THEIRS: [], OURS: []} for w in WORKLOADS}
    async with service.client() as client:
        makers: dict[str, Callable[[], tts.TTS[Any]]] = {
            THEIRS: lambda: their_tts(service),
            OURS: lambda: TTS(client=client, voice=VOICE),
        }
        engines = {name: make() for name, make in makers.items()}
        try:
            for workload, tokens in WORKLOADS.items():
                for i in range(runs + 1):
                    order = [THEIRS, OURS] if i % 2 == 0 else [OURS, THEIRS]
                    for name in order:
                        run = await speak_once(engines[name], tokens)
                        label = "warm-up" if i == 0 else f"run {i}"
                        print(
                            f"{workload[:12]:<12} {label:>7} {name:<22} first audio "
                            f"{run.first_audio:6.3f} s, last {run.last_audio:6.2f} s, "
                            f"gaps {run.gaps} ({run.gap_seconds:.2f} s)",
                            flush=True,
                        )
                        if i:
                            results[workload][name].append(run)
        finally:
            for engine in engines.values():
                await engine.aclose()
    return results


def _row(name: str, runs: Sequence[Run]) -> str:
    first = [r.first_audio for r in runs]
    last = [r.last_audio for r in runs]
    return (
        f"| {name} | {pct(first, 0.5):.3f} | {pct(first, 0.9):.3f} | {pct(last, 0.5):.2f} | "
        f"{pct(last, 0.9):.2f} | {statistics.median(r.gaps for r in runs):g} | "
        f"{statistics.median(r.gap_seconds for r in runs):.2f} | "
        f"{max(r.longest_gap for r in runs):.2f} | "
        f"{statistics.median(r.audio_seconds for r in runs):.1f} |"
    )


def _table(workload: str, results: dict[str, list[Run]]) -> list[str]:
    theirs, ours = results[THEIRS], results[OURS]

    def ratio(key: Callable[[Run], float], q: float) -> float:
        return pct([key(r) for r in theirs], q) / pct([key(r) for r in ours], q)

    return [
        f"## The {workload} ({len(WORKLOADS[workload])} tokens)",
        "",
        "| TTS | first audio p50 | p90 | last audio p50 | p90 | gaps per reply (median) "
        "| silent s per reply (median) | longest gap | audio s |",
        "|---|---|---|---|---|---|---|---|---|",
        _row(THEIRS, theirs),
        _row(OURS, ours),
        "",
        f"First audio: this plugin is {ratio(lambda r: r.first_audio, 0.5):.1f}x sooner at p50 "
        f"and {ratio(lambda r: r.first_audio, 0.9):.1f}x at p90. Last audio: "
        f"{ratio(lambda r: r.last_audio, 0.5):.2f}x at p50 (above 1: this plugin finishes "
        "sooner).",
        "",
    ]


def report(results: Results, load: tuple[float, float], elapsed: float) -> str:
    runs = len(results["reference answer"][OURS])
    lines = [
        "# LiveKit Agents: LiveKit's AWS TTS against polly-pipeline-livekit",
        "",
        f"`python benchmarks/bridges_livekit.py --runs {runs}`, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} minutes; load average "
        f"{load[0]:.1f} before, {load[1]:.1f} after, on {os.cpu_count()} cores (shared). "
        f"livekit-agents {version('livekit-agents')}, livekit-plugins-aws "
        f"{version('livekit-plugins-aws')}.",
        "",
        "The same `AgentSession` (LiveKit's own LLM and TTS nodes and audio forwarding) speaks "
        'two answers (the demo model\'s reference answer, and a conversational one: "Sure.", one '
        "long sentence, one short), written by a scripted LLM (first token "
        f"{REALISTIC_LLM.first_token_delay} s, then {REALISTIC_LLM.tokens_per_second:g} tokens/s), "
        "into a recording audio output, against the local Polly service with `--latency "
        f"realistic` (first audio {LATENCY.first_audio} s, real-time factor "
        f"{LATENCY.real_time_factor}, network delay {LATENCY.network_delay} s each way; its "
        "SynthesizeSpeech applies the same model). LiveKit's AWS TTS calls SynthesizeSpeech once "
        "per sentence inside LiveKit's sentence `StreamAdapter` (which `AgentSession` adds for a "
        "non-streaming TTS); this plugin streams the text into one warm Polly stream per reply. "
        f"{runs} runs each per answer, alternating, after one warm-up run each. Times are "
        "seconds from the LLM request; a gap is the player running dry (more than "
        f"{AUDIBLE * 1000:.0f} ms) before the last frame.",
        "",
    ]
    for workload, per_tts in results.items():
        lines += _table(workload, per_tts)
    lines += [
        "Notes. Both get the text after LiveKit's own markdown and emoji filters "
        "(`tts_text_transforms`, on by default). The audio totals differ because each "
        "SynthesizeSpeech answer is a separate utterance with its own leading and trailing "
        "silence. The recording output takes frames as fast as they come (no back-pressure), so "
        "a gap is only counted where the audio really arrived after the listener needed it. "
        "Where a column shows theirs ahead or equal, it is.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="counted runs per TTS")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        config = LocalServiceConfig(latency=LATENCY)
        with BackgroundService(config, ca_file=Path(tmp) / "ca.pem") as service:
            results = asyncio.run(measure(service, args.runs))
    text = report(results, (load_before, os.getloadavg()[0]), time.monotonic() - started)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
