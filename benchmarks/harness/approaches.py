"""The ways to speak a streaming answer, each timed from the LLM request start.

- ``pipeline``: this project as a user runs it: ``Pipeline`` on a warm ``SpeechSession``
  (cleaner, segmenter, flush policy, pre-warmed stream per turn).
- ``naive``: a streaming client built from ordinary parts. When the question is asked it
  opens one bidirectional stream with the low-level ``PollyStreamingClient.open_stream`` on the
  client's warm HTTP/2 connection; it cuts the raw tokens with the plain regex
  (:mod:`harness.plain`) and sends each sentence as one TextEvent the moment the regex sees it
  end, the first with ``flush=True``, the others without; at the end of the answer it sends
  the rest and ends the input. No cleaner (markdown goes out as written), no segmenter, no
  session, no pipeline.
- ``rest``: botocore ``synthesize_speech`` per sentence (the same plain regex splitter), one
  request at a time in a worker thread on a warm HTTP/1.1 connection, each response body read
  as it arrives (the first chunk is the first audio); audio plays in sentence order. The local
  service's SynthesizeSpeech applies the latency model itself (first audio, real-time pacing,
  network delay), as the stream does.
- ``whole``: the whole answer first, then one stream with the raw text (one-shot
  ``start_speech_synthesis_stream``, all that amazon-polly-streaming can do). Run only in the
  full-answer runs.

Every approach can stop at its first audio (``whole=False``), as a barge-in would, so the many
time-to-first-audio runs fit in the time budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from harness.common import PCM_BYTES_PER_SECOND, RecordingSink, RunResult, paced_tokens
from harness.plain import PlainSplitter
from polly_pipeline.client.client import PollyStreamingClient
from polly_pipeline.local.config import DemoLLMConfig
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.session.session import SpeechSession

APPROACHES = {
    "pipeline": "this pipeline (Pipeline + warm SpeechSession)",
    "naive": "naive stream client (plain regex, one TextEvent per sentence, first flushed)",
    "rest": "SynthesizeSpeech per sentence (plain regex, botocore, sequential)",
}
WHOLE = "whole answer, then one stream (raw text; amazon-polly-streaming)"
#: How much of a SynthesizeSpeech body one read asks for: 1/32 s of pcm 16 kHz.
REST_READ_BYTES = 1024


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


async def run_naive(
    client: PollyStreamingClient,
    voice: str,
    tokens: Sequence[str],
    llm: DemoLLMConfig,
    *,
    whole: bool = True,
) -> RunResult:
    """The naive streaming client (see the module docstring)."""
    t0 = time.monotonic()
    arrivals: list[tuple[float, float]] = []
    first = asyncio.Event()
    ready: float | None = None
    stream = await client.open_stream(voice_id=voice, output_format="pcm")
    try:

        async def listen() -> None:
            async for chunk in stream.audio():
                arrivals.append((time.monotonic() - t0, len(chunk) / PCM_BYTES_PER_SECOND))
                first.set()

        listener = asyncio.create_task(listen())
        splitter = PlainSplitter()
        async for token in paced_tokens(tokens, llm, t0):
            for sentence in splitter.feed(token):
                if ready is None:
                    ready = time.monotonic() - t0
                    await stream.send_text(sentence, flush=True)
                else:
                    await stream.send_text(sentence)
            if not whole and first.is_set():
                break
        else:
            for rest in splitter.flush():
                ready = time.monotonic() - t0 if ready is None else ready
                await stream.send_text(rest)
            await stream.end_input()
        if whole:
            await listener
        else:
            await first.wait()
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
    finally:
        await stream.aclose()
    assert ready is not None
    return RunResult("naive", arrivals[0][0], ready, arrivals)


def _synthesize(boto: Any, voice: str, text: str, t0: float) -> list[tuple[float, float]]:
    """One SynthesizeSpeech call (in a thread): (time from t0, audio seconds) per body read."""
    reply = boto.synthesize_speech(
        Text=text, VoiceId=voice, OutputFormat="pcm", Engine="generative"
    )
    body = reply["AudioStream"]
    reads = []
    while chunk := body.read(REST_READ_BYTES):
        reads.append((time.monotonic() - t0, len(chunk) / PCM_BYTES_PER_SECOND))
    body.close()
    return reads


async def run_rest(
    boto: Any, voice: str, tokens: Sequence[str], llm: DemoLLMConfig, *, whole: bool = True
) -> RunResult:
    """SynthesizeSpeech per plain-regex sentence, one request at a time (module docstring)."""
    t0 = time.monotonic()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    arrivals: list[tuple[float, float]] = []
    first = asyncio.Event()
    ready: float | None = None

    async def worker() -> None:
        while (text := await queue.get()) is not None:
            reads = await asyncio.to_thread(_synthesize, boto, voice, text, t0)
            arrivals.extend(reads)
            first.set()
            if not whole:
                return

    runner = asyncio.create_task(worker())
    splitter = PlainSplitter()
    async for token in paced_tokens(tokens, llm, t0):
        for sentence in splitter.feed(token):
            ready = time.monotonic() - t0 if ready is None else ready
            queue.put_nowait(sentence)
        if not whole and first.is_set():
            break
    else:
        for rest in splitter.flush():
            ready = time.monotonic() - t0 if ready is None else ready
            queue.put_nowait(rest)
    queue.put_nowait(None)
    await runner
    assert ready is not None
    return RunResult("rest", arrivals[0][0], ready, arrivals)


async def run_whole(
    client: PollyStreamingClient, voice: str, tokens: Sequence[str], llm: DemoLLMConfig
) -> RunResult:
    """Collect the whole answer, then speak its raw text with one one-shot stream."""
    t0 = time.monotonic()
    text = "".join([t async for t in paced_tokens(tokens, llm, t0)])
    ready = time.monotonic() - t0
    arrivals = []
    async for chunk in client.start_speech_synthesis_stream(
        text=text, voice_id=voice, output_format="pcm"
    ):
        arrivals.append((time.monotonic() - t0, len(chunk) / PCM_BYTES_PER_SECOND))
    return RunResult("whole", arrivals[0][0], ready, arrivals)
