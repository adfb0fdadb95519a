"""Benchmark: Pipecat's AWSPollyTTSService against polly-pipeline-pipecat, in one Pipecat pipeline.

The same real Pipecat pipeline (``Pipeline`` in a ``PipelineWorker`` under a ``WorkerRunner``:
a scripted LLM, the TTS service, a recorder), the same LLM pace (first token 0.4 s, then 40
tokens/s) for two answers (the demo model's reference answer, long and in markdown, and a short
conversational one that opens with "Sure."), the same local Polly service with its realistic
latency model (applied by ``SynthesizeSpeech`` and the bidirectional stream alike), the same
credentials and region, reached through the standard ``AWS_ENDPOINT_URL_POLLY`` and
``AWS_CA_BUNDLE`` variables. Runs are interleaved (service order alternating) and compared:

- ``AWSPollyTTSService`` (Pipecat's: ``SynthesizeSpeech`` per sentence, whole sentence read
  before its audio is yielded);
- ``PollyStreamingTTSService`` (this plugin: one warm bidirectional stream per reply, this
  project's cleaner and segmenter);
- ``PollyStreamingTTSService`` with Pipecat's sentence aggregator (the stream alone, Pipecat's
  cutting).

Measured from the question (the ``Ask`` frame reaching the LLM): first audio frame at the end
of the pipeline, last audio frame, and what a listener who starts at the first frame and plays
in real time hears: gaps (the audio ran out before the next frame came) and when playback ends.

    pip install -e . -e 'plugins/polly-pipeline-pipecat[bench]'   # aiobotocore for Pipecat's
    python benchmarks/bridges_pipecat.py [--runs 5]

Writes ``benchmarks/results/bridges_pipecat.md`` (about 6 minutes with 5 runs); the findings
section at its end is written by hand after a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.common import LATENCY, REALISTIC_LLM, pct, stalls
from harness.workloads import CONVERSATIONAL_ANSWER
from loguru import logger
from pipecat.frames.frames import LLMFullResponseEndFrame
from pipecat.pipeline.worker import PipelineParams
from pipecat.services.tts_service import TextAggregationMode, TTSService
from polly_pipeline_pipecat import PollyStreamingTTSService
from polly_pipeline_pipecat.testing import Ask, FrameRecorder, ScriptedLLM, running

from polly_pipeline.local.background import BackgroundService
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.demo_answers import REFERENCE_ANSWER, tokenize
from polly_pipeline.local.service import LocalPollyService

RESULTS = Path(__file__).parent / "results" / "bridges_pipecat.md"
SAMPLE_RATE = 16000  # both services make 16 kHz PCM: no resampling on either side
WORKLOADS = {
    "reference answer": tokenize(REFERENCE_ANSWER),
    "conversational answer": tokenize(CONVERSATIONAL_ANSWER),
}
#: A pipeline runs this long before the question (a call connects before the user speaks).
SETTLE = 1.0
#: A reply must be spoken within this many seconds.
REPLY_DEADLINE = 180.0


@dataclass
class Run:
    """One reply of one service: seconds from the question."""

    first_audio: float
    last_audio: float
    playback_end: float
    audio_seconds: float
    gaps: int
    gap_seconds: float
    longest_gap: float


def services(polly: LocalPollyService) -> dict[str, Callable[[], TTSService]]:
    """The services compared, each configured the way its users configure Amazon Polly."""
    from pipecat.services.aws.tts import AWSPollyTTSService  # noqa: PLC0415 (needs [bench])

    keys = {
        "region": polly.region,
        "aws_access_key_id": polly.credentials.access_key,
        "api_key": polly.credentials.secret_key,
    }
    voice = "Joanna"
    return {
        "Pipecat AWSPollyTTSService": lambda: AWSPollyTTSService(
            **keys, settings=AWSPollyTTSService.Settings(voice=voice, engine="generative")
        ),
        "PollyStreamingTTSService": lambda: PollyStreamingTTSService(
            **keys, settings=PollyStreamingTTSService.Settings(voice=voice)
        ),
        "PollyStreamingTTSService, Pipecat's sentences": lambda: PollyStreamingTTSService(
            **keys,
            settings=PollyStreamingTTSService.Settings(voice=voice),
            text_aggregation_mode=TextAggregationMode.SENTENCE,
        ),
    }


async def one_reply(make: Callable[[], TTSService], tokens: list[str]) -> Run:
    """Ask once through a fresh pipeline with the service ``make`` builds; what was heard."""
    llm, recorder = ScriptedLLM(), FrameRecorder()
    params = PipelineParams(audio_out_sample_rate=SAMPLE_RATE, enable_metrics=True)
    async with running([llm, make(), recorder], params) as worker:
        await asyncio.sleep(SETTLE)
        await worker.queue_frame(
            Ask(
                tokens,
                first_token_delay=REALISTIC_LLM.first_token_delay,
                tokens_per_second=REALISTIC_LLM.tokens_per_second,
            )
        )
        await recorder.wait_for(LLMFullResponseEndFrame, within=REPLY_DEADLINE)
    asked = llm.replies[0].asked_at
    arrivals = [
        (at - asked, len(frame.audio) / (2 * frame.sample_rate)) for at, frame in recorder.audio()
    ]
    if not arrivals:
        raise RuntimeError("the service spoke no audio; see the log above")
    gaps, gap_seconds, longest = stalls(arrivals)
    audio = sum(seconds for _, seconds in arrivals)
    return Run(
        first_audio=arrivals[0][0],
        last_audio=arrivals[-1][0],
        playback_end=arrivals[0][0] + audio + gap_seconds,
        audio_seconds=audio,
        gaps=gaps,
        gap_seconds=gap_seconds,
        longest_gap=longest,
    )


Results = dict[str, dict[str, list[Run]]]  # workload -> service -> runs


async def compare(polly: LocalPollyService, runs: int) -> Results:
    """``runs`` replies per workload and service, interleaved, the order alternating."""
    makers = services(polly)
    results: Results = {w: {name: [] for name in makers} for w in WORKLOADS}
    names = list(makers)
    for round_number in range(runs):
        order = names if round_number % 2 == 0 else names[::-1]
        for workload, tokens in WORKLOADS.items():
            for name in order:
                run = await one_reply(makers[name], tokens)
                results[workload][name].append(run)
                print(
                    f"  round {round_number + 1}, {workload}: {name}: first audio "
                    f"{run.first_audio:.2f} s, {run.gaps} gaps ({run.gap_seconds:.2f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    return results


def table(results: dict[str, list[Run]]) -> list[str]:
    """One workload's table."""
    baseline = next(iter(results))
    base_p50 = statistics.median(r.first_audio for r in results[baseline])
    lines = [
        "| service | first audio p50 | p90 | vs Pipecat's (p50) | last audio p50 | "
        "playback ends p50 | gaps p50 | gap seconds p50 / p90 | longest gap p90 | "
        "audio seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in results.items():
        first = [r.first_audio for r in rows]
        ratio = base_p50 / statistics.median(first)
        lines.append(
            f"| {name} | {statistics.median(first):.2f} | {pct(first, 0.9):.2f} | "
            f"{'-' if name == baseline else f'{ratio:.1f}x sooner'} | "
            f"{statistics.median(r.last_audio for r in rows):.2f} | "
            f"{statistics.median(r.playback_end for r in rows):.2f} | "
            f"{statistics.median(r.gaps for r in rows):.0f} | "
            f"{statistics.median(r.gap_seconds for r in rows):.2f} / "
            f"{pct([r.gap_seconds for r in rows], 0.9):.2f} | "
            f"{pct([r.longest_gap for r in rows], 0.9):.2f} | "
            f"{statistics.median(r.audio_seconds for r in rows):.1f} |"
        )
    return lines


def report(results: Results, runs: int, load: tuple[float, float]) -> str:
    """The markdown report."""
    reference = WORKLOADS["reference answer"]
    lines = [
        "# Pipecat: AWSPollyTTSService against polly-pipeline-pipecat",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
        "`python benchmarks/bridges_pipecat.py`; "
        f"{runs} interleaved replies per service; load average {load[0]:.2f} before, "
        f"{load[1]:.2f} after ({os.cpu_count()} CPUs, Python {platform.python_version()}).",
        "",
        "The same real Pipecat pipeline (scripted LLM -> TTS service -> recorder, in a "
        "`PipelineWorker` under a `WorkerRunner`), two answers at a real "
        f"model's pace (first token {REALISTIC_LLM.first_token_delay} s, then "
        f"{REALISTIC_LLM.tokens_per_second:.0f} tokens/s), the local Polly service with its "
        f"realistic latency model (first audio {LATENCY.first_audio} s + network "
        f"{LATENCY.network_delay} s, audio at {LATENCY.real_time_factor}x real time; "
        "`SynthesizeSpeech` and the stream alike), the same credentials and region for both, "
        "16 kHz PCM. Times in seconds from the question reaching the LLM.",
        "",
        f"## The reference answer ({len(reference)} tokens, {len(REFERENCE_ANSWER)} characters "
        "of markdown: headings, a numbered list, emphasis, bullets)",
        "",
        *table(results["reference answer"]),
        "",
        f"## A conversational answer ({len(WORKLOADS['conversational answer'])} tokens: "
        '"Sure.", one long sentence, one short)',
        "",
        *table(results["conversational answer"]),
        "",
        "## Reading the numbers",
        "",
        "How to read it: *first audio* is when the first audio frame left the TTS service; "
        "*last audio* when the last one did; *gaps* are the silences a listener who starts "
        "at the first frame and plays in real time hears inside the answer because the next "
        "audio had not arrived yet (a gap shorter than 1 ms is not counted); *playback ends* "
        "is first audio + audio seconds + gaps. The audio seconds differ between services "
        "because the texts sent differ: Pipecat sends the markdown as the model wrote it "
        "(the offline voice reads some of its symbols), this project's cleaner removes it.",
        "",
        "What limits the comparison: the local service's offline voice and latency model "
        "stand in for Amazon Polly (no network here); both services get the same model, "
        "server-side. One process on a shared machine: compare the ratios, not the "
        "absolute times.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the comparison and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="replies per service (default 5)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    logger.remove()  # Pipecat logs every frame link and sentence at DEBUG
    logger.add(sys.stderr, level="WARNING")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        ca_file = Path(tmp) / "polly-local-ca.pem"
        config = LocalServiceConfig(latency=LATENCY)
        with BackgroundService(config, ca_file=ca_file) as polly:
            # the standard AWS variables point both services at the local service
            os.environ["AWS_ENDPOINT_URL_POLLY"] = polly.endpoint_url
            os.environ["AWS_CA_BUNDLE"] = str(ca_file)
            results = asyncio.run(compare(polly, args.runs))
    text = report(results, args.runs, (load_before, os.getloadavg()[0]))
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
