"""CLI layer: ``polly-pipeline chat``: an LLM's answer shown and spoken while it is written.

With a prompt, one answer. Without one (or with ``-i``), a conversation on one warm speech
session: prompts are read one per line (typed, or piped), each answer is spoken, the history
goes to the next turn, and an empty line (Enter) while it speaks interrupts it; the history
then keeps only the part that was heard.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterable, AsyncIterator

from polly_pipeline.backends import Backends, open_backends
from polly_pipeline.cli.conversation import Conversation
from polly_pipeline.cli.display import Display
from polly_pipeline.cli.inputs import read_stdin
from polly_pipeline.cli.options import llm_options, polly_options, synthesis_params, turn_outputs
from polly_pipeline.cli.outputs import Outputs, numbered
from polly_pipeline.cli.running import Context
from polly_pipeline.errors import ConfigurationError, PollyPipelineError
from polly_pipeline.pipeline import FlushPolicy, Pipeline, PipelineReport
from polly_pipeline.session import SpeechSession
from polly_pipeline.sinks import AudioSink
from polly_pipeline.sinks.base import check_writable

__all__ = ["answer", "first_messages", "run_chat", "shown", "summary"]


async def shown(
    source: AsyncIterable[str], display: Display, kept: list[str]
) -> AsyncIterator[str]:
    """The model's text, passed on to be spoken and shown (and kept) as it arrives."""
    async for text in source:
        display.feed(text)
        kept.append(text)
        yield text


async def answer(
    backends: Backends,
    session: SpeechSession,
    messages: list[dict[str, str]],
    *,
    sinks: list[AudioSink],
    display: Display,
    kept: list[str],
    ctx: Context,
) -> PipelineReport:
    """Ask the model and speak its answer into ``sinks`` as it streams."""
    from polly_pipeline.sources import openai_chat_source  # noqa: PLC0415

    assert backends.llm is not None
    assert backends.model is not None
    source = openai_chat_source(backends.llm, model=backends.model, messages=messages)
    ctx.trace.reset()
    progress = ctx.trace.also(display.progress)
    pipeline = Pipeline(session, flush=FlushPolicy(), on_progress=progress)
    return await pipeline.run(shown(source, display, kept), *sinks)


def first_messages(args: argparse.Namespace) -> list[dict[str, str]]:
    """The system prompt, if any."""
    return [{"role": "system", "content": args.system}] if args.system else []


async def run_chat(args: argparse.Namespace, ctx: Context) -> int:
    """One prompt, or a conversation (no prompt, or ``-i``)."""
    outputs = ctx.outputs
    prompt = read_stdin() if args.prompt == "-" else args.prompt
    if prompt is not None and not prompt.strip():
        raise ConfigurationError(
            "the prompt is empty (or only whitespace): ask something, e.g. polly-pipeline chat "
            "'Why is the sky blue?', or leave the prompt out to type prompts one per line"
        )
    params = synthesis_params(args, default_name="answer")
    conversing = args.interactive or prompt is None
    display = Display(quiet=args.quiet)
    # refuse a bad -o before asking anything (files appear with their first audio)
    sinks = [] if conversing else turn_outputs(args, outputs)
    if conversing and args.output is not None:
        check_writable(numbered(args.output, 1))
    async with (
        open_backends(polly_options(args), llm_options(args), notice=ctx.notice) as backends,
        SpeechSession(
            backends.polly,
            voice_id=params.voice_id,
            output_format=params.output_format,
            sample_rate=params.sample_rate,
            pacing=2.0 if conversing else None,  # an interrupted answer wastes little
            on_event=ctx.trace.event,
        ) as session,
    ):
        if conversing:
            conversation = Conversation(args, backends, session, ctx, display)
            return await conversation.run(prompt)
        assert prompt is not None
        messages = [*first_messages(args), {"role": "user", "content": prompt}]
        display.begin()
        try:
            report = await answer(
                backends, session, messages, sinks=sinks, display=display, kept=[], ctx=ctx
            )
        except PollyPipelineError as exc:
            display.end()
            if outputs.written():
                raise PollyPipelineError(
                    f"{exc} (the {outputs.describe()} spoken so far are kept)"
                ) from exc
            raise
    display.end()
    display.line(summary(outputs, report))
    return 0


def summary(outputs: Outputs, report: PipelineReport) -> str:
    """The one line that ends an answer."""
    where = f"wrote {outputs.describe()}" if outputs.written() else "no file written"
    if not outputs.files:
        where = f"spoke {report.audio_seconds:.1f} s of audio"
    first, done = report.time_to_first_audio, report.source_finished_after
    line = f"{where} | first audio {'-' if first is None else f'{first:.2f} s'}"
    if first is not None and done is not None and first < done:
        line += f", speech started {done - first:.2f} s before the model finished"
    billed = report.turn.characters_billed if report.turn else 0
    return f"{line} | {report.tokens_in} tokens, {billed} characters billed"
