"""The four ways to speak a streaming answer, each timed from the LLM request start.

- ``pipeline``: this project: Pipeline + a warm SpeechSession on one bidirectional stream;
- ``whole``: wait for the whole answer, then one ``start_speech_synthesis_stream`` call (all
  that amazon-polly-streaming can do: one TextEvent, then close);
- ``rest_seq`` / ``rest_conc``: botocore ``synthesize_speech`` over HTTP/1.1 per sentence as
  sentences complete (Pipecat, LiveKit Agents, vocode), one at a time or all at once in
  threads; audio plays in sentence order.

The local service's SynthesizeSpeech applies the latency model itself (first audio, real-time
pacing, network delay), as the bidirectional stream does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from harness.common import (
    PCM_BYTES_PER_SECOND,
    VOICE,
    RecordingSink,
    RunResult,
    paced_tokens,
)
from polly_pipeline.client.client import PollyStreamingClient
from polly_pipeline.local.config import DemoLLMConfig
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.session.session import SpeechSession
from polly_pipeline.text import MarkdownCleaner, Segmenter

APPROACHES = {
    "pipeline": "polly-pipeline (Pipeline + SpeechSession, one bidirectional stream)",
    "whole": "whole answer, then one stream (amazon-polly-streaming)",
    "rest_seq": "SynthesizeSpeech per sentence, sequential (HTTP/1.1)",
    "rest_conc": "SynthesizeSpeech per sentence, concurrent threads (HTTP/1.1)",
}


async def run_pipeline(
    session: SpeechSession, tokens: Sequence[str], llm: DemoLLMConfig, *, whole: bool = True
) -> RunResult:
    """One turn through Pipeline on a warm session (``whole=False``: stop at first audio)."""
    sink = RecordingSink()
    pipeline = Pipeline(session)
    t0 = time.monotonic()
    task = asyncio.create_task(pipeline.run(paced_tokens(tokens, llm, t0), sink))
    if not whole:
        await sink.first.wait()
        task.cancel()  # barge-in: the speak stage interrupts the turn
    with contextlib.suppress(asyncio.CancelledError):
        await task
    report = pipeline.last_report
    assert report is not None
    assert report.time_to_first_segment is not None
    assert sink.arrivals
    ready = report.started_at + report.time_to_first_segment - t0
    arrivals = [(at - t0, s) for at, s in sink.arrivals]
    return RunResult("pipeline", arrivals[0][0], ready, arrivals)


def _clean(text: str) -> str:
    cleaner = MarkdownCleaner()
    return cleaner.feed(text) + cleaner.flush()


async def run_whole(
    client: PollyStreamingClient, tokens: Sequence[str], llm: DemoLLMConfig, *, whole: bool = True
) -> RunResult:
    """Collect the whole answer, then speak it with one one-shot stream."""
    t0 = time.monotonic()
    text = "".join([t async for t in paced_tokens(tokens, llm, t0)])
    text = _clean(text)
    ready = time.monotonic() - t0
    arrivals = []
    async for chunk in client.start_speech_synthesis_stream(
        text=text, voice_id=VOICE, output_format="pcm"
    ):
        arrivals.append((time.monotonic() - t0, len(chunk) / PCM_BYTES_PER_SECOND))
        if not whole:
            break
    return RunResult("whole", arrivals[0][0], ready, arrivals)


def _synthesize(boto: Any, text: str) -> tuple[float, float]:
    """One SynthesizeSpeech call (in a thread): (monotonic time playable, audio seconds)."""
    reply = boto.synthesize_speech(
        Text=text, VoiceId=VOICE, OutputFormat="pcm", Engine="generative"
    )
    audio = reply["AudioStream"].read()
    return time.monotonic(), len(audio) / PCM_BYTES_PER_SECOND


async def run_rest(
    boto: Any, tokens: Sequence[str], llm: DemoLLMConfig, *, concurrent: bool, whole: bool = True
) -> RunResult:
    """Segment as tokens arrive; SynthesizeSpeech each sentence in a thread."""
    t0 = time.monotonic()
    cleaner, segmenter = MarkdownCleaner(), Segmenter()
    ready: float | None = None
    jobs: list[asyncio.Future[tuple[float, float]]] = []
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    done: list[tuple[float, float]] = []

    async def worker() -> None:  # sequential: one request in flight
        while (text := await queue.get()) is not None:
            done.append(await asyncio.to_thread(_synthesize, boto, text))

    runner = None if concurrent else asyncio.create_task(worker())

    def dispatch(texts: list[str]) -> None:
        nonlocal ready
        for text in texts:
            if not text.strip():
                continue
            if ready is None:
                ready = time.monotonic() - t0
            if concurrent:
                jobs.append(asyncio.ensure_future(asyncio.to_thread(_synthesize, boto, text)))
            else:
                queue.put_nowait(text)

    async for token in paced_tokens(tokens, llm, t0):
        dispatch([s.text for s in segmenter.feed(cleaner.feed(token))])
        if not whole and (done or (jobs and jobs[0].done())):
            break  # first sentence's audio is in: stop the answer (like a barge-in)
    else:
        whole = True
    if not whole:
        queue.put_nowait(None)
        if runner is not None:
            await runner
        first = done[0] if done else jobs[0].result()
        await asyncio.gather(*jobs)
        assert ready is not None
        name = "rest_conc" if concurrent else "rest_seq"
        return RunResult(name, first[0] - t0, ready, [(first[0] - t0, first[1])])
    tail = [s.text for s in segmenter.feed(cleaner.flush())]
    dispatch(tail + [s.text for s in segmenter.flush()])
    if concurrent:
        done = list(await asyncio.gather(*jobs))
    else:
        queue.put_nowait(None)
        assert runner is not None
        await runner
    arrivals, playable = [], 0.0
    for at, seconds in done:  # played in sentence order
        playable = max(playable, at - t0)
        arrivals.append((playable, seconds))
    assert ready is not None
    name = "rest_conc" if concurrent else "rest_seq"
    return RunResult(name, arrivals[0][0], ready, arrivals)
