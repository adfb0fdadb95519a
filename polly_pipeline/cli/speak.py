"""CLI layer: ``polly-pipeline speak``: text, a file or standard input, spoken as it is read."""

from __future__ import annotations

import argparse
import time
from collections.abc import AsyncIterable

from polly_pipeline.backends import open_polly
from polly_pipeline.cli.display import Display
from polly_pipeline.cli.inputs import NonBlank, read_file, read_stdin
from polly_pipeline.cli.options import polly_options, synthesis_params, turn_outputs
from polly_pipeline.cli.outputs import Outputs
from polly_pipeline.cli.running import Context
from polly_pipeline.errors import ConfigurationError, PollyPipelineError
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.protocol.params import SynthesisParams
from polly_pipeline.session import AudioChunk, AudioClock, AudioFormat, SpeechSession
from polly_pipeline.sinks import AudioSink

__all__ = ["run_speak"]

_EMPTY = "nothing to speak: the text is empty (or only whitespace)"


async def run_speak(args: argparse.Namespace, ctx: Context) -> int:
    """Speak text, a file or stdin into the outputs as it is read; prints the timings."""
    from polly_pipeline.sources import stdin_source  # noqa: PLC0415

    outputs = ctx.outputs
    params = synthesis_params(args, default_name="speech")
    display = Display(quiet=args.quiet)
    if args.ssml:
        text = read_stdin() if args.text == "-" else args.text or read_file(args.file)
        if not text.strip():
            raise ConfigurationError(_EMPTY)
        sinks = turn_outputs(args, outputs)
        return await _speak_ssml(args, text, params, sinks=sinks, ctx=ctx, display=display)
    source: AsyncIterable[str] | str
    if args.file is not None:
        source = read_file(args.file)
    elif args.text == "-":
        source = stdin_source()
    else:
        source = args.text
    if isinstance(source, str) and not source.strip():
        raise ConfigurationError(_EMPTY)
    sinks = turn_outputs(args, outputs)
    text = NonBlank(source if not isinstance(source, str) else _once(source))
    async with (
        open_polly(polly_options(args), notice=ctx.notice) as client,
        SpeechSession(
            client,
            voice_id=params.voice_id,
            output_format=params.output_format,
            sample_rate=params.sample_rate,
            on_event=ctx.trace.event,
        ) as session,
    ):
        progress = ctx.trace.also(display.progress)
        pipeline = Pipeline(session, clean=not args.raw, on_progress=progress)
        try:
            report = await pipeline.run(text, *sinks)
        except PollyPipelineError as exc:
            display.end()
            if outputs.written():
                raise PollyPipelineError(f"{exc} ({outputs.describe()} so far)") from exc
            raise
    display.end()
    if not text.seen:
        raise ConfigurationError(_EMPTY)
    billed = report.turn.characters_billed if report.turn else 0
    display.line(
        f"{_wrote(outputs, report.audio_seconds)} | first audio after "
        f"{(report.time_to_first_audio or 0):.3f} s, done in {report.total_seconds:.3f} s | "
        f"{billed} characters billed"
    )
    return 0


async def _once(text: str) -> AsyncIterable[str]:
    yield text


def _wrote(outputs: Outputs, seconds: float) -> str:
    if outputs.written():
        return f"wrote {outputs.describe()}"
    return f"spoke {seconds:.1f} s of audio"


async def _speak_ssml(
    args: argparse.Namespace,
    text: str,
    params: SynthesisParams,
    *,
    sinks: list[AudioSink],
    ctx: Context,
    display: Display,
) -> int:
    """One SSML document, sent whole on one stream (SSML cannot be split)."""
    fmt = AudioFormat(params.output_format, params.effective_sample_rate)
    clock = AudioClock(fmt.output_format, fmt.sample_rate)
    async with open_polly(polly_options(args), notice=ctx.notice) as client:
        started = time.monotonic()
        try:
            async with client.open_stream(
                voice_id=params.voice_id,
                output_format=params.output_format,
                sample_rate=params.sample_rate,
            ) as stream:
                await stream.send_ssml(text)
                await stream.end_input()
                sequence = 0
                async for data in stream.audio():
                    before = clock.seconds
                    seconds = clock.feed(data) - before
                    chunk = AudioChunk(data, fmt, 0, sequence, seconds)
                    for sink in sinks:
                        await sink.write(chunk)
                    sequence += 1
        finally:
            for sink in sinks:
                await sink.close()
    display.line(
        f"{_wrote(ctx.outputs, clock.seconds)} | done in {time.monotonic() - started:.3f} s | "
        f"{stream.stats.request_characters} characters billed"
    )
    return 0
