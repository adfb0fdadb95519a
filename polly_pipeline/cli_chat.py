"""CLI layer: ``polly-pipeline chat``: a prompt to an LLM, its answer spoken while it is written.

The LLM is OpenAI (or any OpenAI-compatible server) when ``OPENAI_API_KEY`` or ``--base-url``
is set, else the offline demo model served by the local service, a labelled stand-in. Polly
is Amazon Polly when AWS credentials are configured, else the local service.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import ssl
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from polly_pipeline.cli_speak import (
    EXTENSIONS,
    LOCAL_POLLY_NOTICE,
    aws_client,
    notice,
    wants_local_polly,
)
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError, PollyPipelineError
from polly_pipeline.local.demo_llm import DEMO_MODEL
from polly_pipeline.pipeline import FlushPolicy, Pipeline, PipelineReport
from polly_pipeline.protocol.params import SynthesisParams
from polly_pipeline.session import SpeechSession

__all__ = ["run_chat"]

DEFAULT_MODEL = "gpt-4o-mini"


class _Progress:
    """One live status line on a terminal (plain lines when not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, report: PipelineReport) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.1:
            return
        self._last = now
        first = report.time_to_first_audio
        line = (
            f"\r  tokens in {report.tokens_in:4d} | segments sent {report.segments_sent:3d} | "
            f"audio out {report.audio_seconds:5.1f} s | first audio "
            f"{'-' if first is None else f'{first:.2f} s'}   "
        )
        sys.stderr.write(line)
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _real_llm(args: argparse.Namespace) -> bool:
    """A real (OpenAI-compatible) model is configured; else the offline demo model is used."""
    return bool(args.base_url or os.environ.get("OPENAI_API_KEY"))


@contextlib.asynccontextmanager
async def _backends(args: argparse.Namespace) -> AsyncIterator[tuple[Any, PollyStreamingClient]]:
    """The OpenAI client and the Polly client, starting the local service where needed."""
    import openai  # noqa: PLC0415

    real_llm = _real_llm(args)
    use_local_polly = wants_local_polly(args)
    service = None
    if use_local_polly or not real_llm:
        from polly_pipeline.local.service import LocalPollyService  # noqa: PLC0415

        service = LocalPollyService()
    async with contextlib.AsyncExitStack() as stack:
        if service is not None:
            await stack.enter_async_context(service)
        if real_llm:
            llm = openai.AsyncOpenAI(base_url=args.base_url)  # key from OPENAI_API_KEY
            notice(f"LLM: {args.model or DEFAULT_MODEL} at {llm.base_url}")
        else:
            assert service is not None
            ctx = ssl.create_default_context(cafile=str(service.ca_file))
            llm = openai.AsyncOpenAI(
                base_url=service.endpoint_url + "/v1",
                api_key="local",
                http_client=openai.DefaultAsyncHttpxClient(verify=ctx),
            )
            notice(
                "LLM: the offline demo model (canned answers, a stand-in for a real model); "
                "set OPENAI_API_KEY or --base-url to use a real one."
            )
        stack.push_async_callback(llm.close)
        if use_local_polly:
            assert service is not None
            polly = service.client()
            notice(LOCAL_POLLY_NOTICE)
        else:
            polly = aws_client(args)
        await stack.enter_async_context(polly)
        yield llm, polly


async def run_chat(args: argparse.Namespace, prompt: str) -> int:
    """Ask the model, speak its answer into a file while it streams, print the timings."""
    from polly_pipeline.sinks import sink_for_path  # noqa: PLC0415
    from polly_pipeline.sources import openai_chat_source  # noqa: PLC0415

    if not prompt.strip():
        raise ConfigurationError("the prompt is empty")
    params = SynthesisParams.create(
        voice_id=args.voice, output_format=args.output_format, sample_rate=args.sample_rate
    )
    output: Path = args.output or Path(f"answer.{EXTENSIONS[params.output_format]}")
    sink = sink_for_path(output, params.output_format)  # refuses unwritable paths now
    progress = _Progress(not args.quiet)
    async with _backends(args) as (llm, polly):
        model = args.model or (DEFAULT_MODEL if _real_llm(args) else DEMO_MODEL)
        messages = [{"role": "user", "content": prompt}]
        if args.system:
            messages.insert(0, {"role": "system", "content": args.system})
        async with SpeechSession(
            polly,
            voice_id=params.voice_id,
            output_format=params.output_format,
            sample_rate=params.sample_rate,
        ) as session:
            pipeline = Pipeline(session, flush=FlushPolicy(), on_progress=progress)
            source = openai_chat_source(llm, model=model, messages=messages)
            try:
                report = await pipeline.run(source, sink)
            except PollyPipelineError as exc:
                progress.done()
                partial = pipeline.last_report
                kept = partial.audio_seconds if partial else 0.0
                raise PollyPipelineError(
                    f"{exc} (the {kept:.1f} s of audio spoken so far are in {output})"
                ) from exc
    progress.done()
    print(f"wrote {output} ({report.audio_seconds:.1f} s of audio)")
    print(report.summary())
    first, done = report.time_to_first_audio, report.source_finished_after
    if first is not None and done is not None and first < done:
        print(f"speech started {done - first:.2f} s before the model finished its answer")
    return 0
