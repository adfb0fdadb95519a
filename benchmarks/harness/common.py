"""Shared pieces: the reference workload, the paced demo LLM, recording sink, statistics."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from polly_pipeline.audio import AudioChunk
from polly_pipeline.local.config import DemoLLMConfig, LatencyModel
from polly_pipeline.local.demo_answers import tokenize

LATENCY = LatencyModel.realistic()
#: What no client can beat once a segment is ready: the service's first-audio latency plus
#: the one-way network delay (the local service adds it to every outbound event).
SERVICE_FLOOR = LATENCY.first_audio + LATENCY.network_delay
VOICE = "Joanna"  # the scale part's voice
PCM_BYTES_PER_SECOND = 16000 * 2  # pcm, 16 kHz, 16-bit mono

#: The shorter answer each session speaks in the scale test: the first paragraph of prose.
SHORT_ANSWER = (
    "Streaming text-to-speech lets an assistant start talking before the language model has "
    "finished writing. Instead of waiting for the whole reply, the pipeline hands each "
    "finished sentence to the speech service at once.\n"
)
SHORT_TOKENS = tokenize(SHORT_ANSWER)
REALISTIC_LLM = DemoLLMConfig(first_token_delay=0.4, tokens_per_second=40.0)


async def paced_tokens(tokens: Sequence[str], llm: DemoLLMConfig, t0: float) -> AsyncIterator[str]:
    """Yield ``tokens`` on the demo LLM's schedule, counted from the request start ``t0``."""
    interval = 1.0 / llm.tokens_per_second if llm.tokens_per_second else 0.0
    for i, token in enumerate(tokens):
        delay = t0 + llm.first_token_delay + i * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        yield token


class RecordingSink:
    """A sink that records when each chunk arrived and how much audio it holds."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, float]] = []
        self.first = asyncio.Event()

    async def write(self, chunk: AudioChunk) -> None:
        self.arrivals.append((time.monotonic(), chunk.seconds))
        self.first.set()

    async def close(self) -> None:
        return None


@dataclass
class RunResult:
    """One request of one approach: times in seconds from the LLM request start."""

    approach: str
    ttfa: float  # first audio
    ready: float  # first segment (or whole text) ready to send
    arrivals: list[tuple[float, float]] = field(default_factory=list)  # (time, audio seconds)

    @property
    def lower_bound(self) -> float:
        return self.ready + SERVICE_FLOOR

    @property
    def overhead(self) -> float:
        return self.ttfa - self.lower_bound

    @property
    def audio_seconds(self) -> float:
        return sum(s for _, s in self.arrivals)


def stalls(
    arrivals: Sequence[tuple[float, float]], tolerance: float = 0.001
) -> tuple[int, float, float]:
    """Stall count, total and longest stall seconds for a listener starting at first audio.

    ``arrivals`` are (time audio became playable, seconds of audio) in playback order.
    """
    if not arrivals:
        return 0, 0.0, 0.0
    count, total, longest = 0, 0.0, 0.0
    play_end = arrivals[0][0]
    for at, seconds in arrivals:
        if at > play_end + tolerance:
            count += 1
            total += at - play_end
            longest = max(longest, at - play_end)
            play_end = at
        play_end += seconds
    return count, total, longest


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def rss_bytes() -> int:
    """Resident set size of this process, from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
