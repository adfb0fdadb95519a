"""A voice assistant in the terminal: ask a question, hear the answer while it is written.

Type a question and press Enter: the model's answer streams onto the screen and out of the
speakers (polly-pipeline-speaker's SpeakerSink) as it is generated. Press Enter while it
speaks to interrupt (barge-in): the speech fades out at once and the next question works;
typing a question instead of a bare Enter interrupts and asks it. End with Ctrl-D (or Ctrl-C).

    pip install -e . -e plugins/polly-pipeline-speaker
    python examples/voice_assistant.py                   # the system's speakers
    python examples/voice_assistant.py --audio-backend null  # no sound card: silent, real time

With no ``OPENAI_API_KEY`` (and no ``--base-url``) the answers come from the offline demo
model of the embedded local service; with AWS credentials and a region, the speech comes from
Amazon Polly (``--backend local`` keeps the local service). The options are named as in
``polly-pipeline chat``, which does the same with ``--play``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from polly_pipeline_speaker import BACKEND_NAMES, SpeakerSink, check_playback

from polly_pipeline.backends import LLMOptions, PollyOptions, open_backends
from polly_pipeline.errors import ConfigurationError, PollyPipelineError
from polly_pipeline.pipeline import Pipeline, PipelineReport
from polly_pipeline.session import SpeechSession
from polly_pipeline.sources import openai_chat_source

SYSTEM_PROMPT = (
    "You are a voice assistant: answer in a few short, plain sentences that read well aloud."
)


class StdinLines:
    """Lines typed on standard input, as an asyncio queue (None at end of input).

    A daemon thread does the blocking reads, so this works on every platform and with pipes;
    it ends by itself at end of input.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, name="stdin-lines", daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            if not self._put(line.rstrip("\r\n")):
                return
        self._put(None)

    def _put(self, line: str | None) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
        except RuntimeError:  # the loop is closed: the program is ending
            return False
        return True

    async def get(self) -> str | None:
        """The next line, or None once input has ended."""
        return await self._queue.get()


def notice(message: str) -> None:
    """A status line (standard error)."""
    print(message, file=sys.stderr, flush=True)


def say(text: str) -> None:
    """Print to the conversation (standard output) at once."""
    sys.stdout.write(text)
    sys.stdout.flush()


class Turn:
    """One question and its spoken answer."""

    def __init__(self, args: argparse.Namespace, session: SpeechSession) -> None:
        self.args = args
        self.session = session
        self.text: list[str] = []
        self.speaker = SpeakerSink(
            device=args.device,
            backends=[args.audio_backend] if args.audio_backend else None,
            jitter_buffer=args.jitter_buffer,
        )
        self._speaking = False

    async def _printed(self, source: AsyncIterable[str]) -> AsyncIterator[str]:
        async for piece in source:
            self.text.append(piece)
            say(piece)
            yield piece

    def _progress(self, report: PipelineReport) -> None:
        if report.audio_chunks and not self._speaking:
            self._speaking = True
            notice("\n[speaking]")

    async def run(self, llm: Any, model: str, messages: list[dict[str, str]]) -> PipelineReport:
        """Speak the model's answer to ``messages``; returns when it has been heard."""
        source = openai_chat_source(llm, model=model, messages=messages)
        pipeline = Pipeline(self.session, on_progress=self._progress)
        return await pipeline.run(self._printed(source), self.speaker)


async def converse(args: argparse.Namespace) -> int:
    """The chat loop: questions from standard input, answers spoken until interrupted."""
    lines = StdinLines()
    async with (
        open_backends(
            PollyOptions.from_args(args),
            LLMOptions(base_url=args.base_url, model=args.model),
            notice=notice,
        ) as backends,
        SpeechSession(
            backends.polly,
            voice_id=args.voice,
            output_format=args.format,
            pacing=2.0,  # an interrupted answer wastes little synthesis
        ) as session,
    ):
        messages: list[dict[str, str]] = [{"role": "system", "content": SYSTEM_PROMPT}]
        pending: str | None = None
        ended = False
        while True:
            if pending is None:
                if ended:
                    break
                say("\nyou> ")
                line = await lines.get()
                if line is None:
                    break
                if not line.strip():
                    continue
                if not sys.stdin.isatty():
                    say(line + "\n")  # echo piped input, as a terminal would
                pending = line
            messages.append({"role": "user", "content": pending.strip()})
            pending = None
            say("assistant> ")
            turn = Turn(args, session)
            answer = asyncio.create_task(turn.run(backends.llm, backends.model or "", messages))
            while not answer.done():
                typed = asyncio.ensure_future(lines.get())
                await asyncio.wait({answer, typed}, return_when=asyncio.FIRST_COMPLETED)
                if not typed.done():
                    typed.cancel()  # an asyncio.Queue loses no line to a cancelled get()
                    break
                line = typed.result()
                if line is None:  # end of input: let the answer finish, then stop
                    ended = True
                    await asyncio.wait({answer})
                    break
                answer.cancel()  # barge-in: the speaker fades out, the turn stops
                pending = line if line.strip() else None
                if pending is not None and not sys.stdin.isatty():
                    say("\nyou> " + pending + "\n")
                with contextlib.suppress(asyncio.CancelledError):
                    await answer
            stats = turn.speaker.stats
            if answer.cancelled():
                notice(
                    f"\n[interrupted after {stats.played_seconds:.1f} s of speech; "
                    f"{stats.dropped_seconds:.1f} s not played]"
                )
            elif (error := answer.exception()) is not None:
                if isinstance(error, ConfigurationError) or not isinstance(
                    error, PollyPipelineError
                ):
                    raise error  # no sound device, a bad option...: nothing will work
                notice(f"\n[error: {error}]")
            else:
                latency = stats.start_latency
                notice(
                    f"\n[done: {stats.played_seconds:.1f} s played, {stats.underruns} underruns, "
                    f"first sound {'-' if latency is None else f'{latency:.2f} s'} after the "
                    "first audio arrived]"
                )
            if turn.text:
                messages.append({"role": "assistant", "content": "".join(turn.text)})
    say("\nbye\n")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description="Ask questions, hear the answers as they stream; Enter interrupts."
    )
    p.add_argument(
        "--audio-backend",
        choices=BACKEND_NAMES,
        default=None,
        help="audio backend (default: miniaudio's defaults; 'null' plays silently in real "
        "time, for machines with no sound card)",
    )
    p.add_argument("--device", default=None, help="playback device name (default: the default)")
    p.add_argument("--voice", default="Joanna", help="Polly voice id (default: Joanna)")
    p.add_argument(
        "--format",
        default="pcm",
        choices=["pcm", "mp3", "ogg_vorbis", "ogg_opus"],
        help="audio format to stream (default: pcm)",
    )
    p.add_argument(
        "--jitter-buffer", type=float, default=0.2, help="seconds queued before playback"
    )
    p.add_argument("--model", default=None, help="chat model (default: gpt-4o-mini)")
    p.add_argument("--base-url", default=None, help="an OpenAI-compatible API base URL")
    p.add_argument(
        "--backend",
        choices=["auto", "local", "aws"],
        default="auto",
        help="Polly: Amazon Polly when AWS is configured (auto), or always the local service "
        "or AWS (the same option as polly-pipeline chat)",
    )
    p.add_argument("--region", default=None, help="AWS region (default: from your AWS config)")
    p.add_argument("--profile", default=None, help="AWS profile to use")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the assistant; the exit status."""
    args = parser().parse_args(argv)
    try:  # before the first question, not when its answer starts to play
        check_playback(args.device, [args.audio_backend] if args.audio_backend else None)
    except ConfigurationError as exc:
        if exc.__cause__ is None:  # an unknown --device: the message lists the devices
            notice(f"error: {exc}")
        else:
            notice(
                f"error: no sound device could be opened ({exc.__cause__.args[0]}); pick "
                "another with --audio-backend or --device, or add --audio-backend null to "
                "play silently in real time (a machine with no sound card)"
            )
        return 1
    try:
        return asyncio.run(converse(args))
    except KeyboardInterrupt:
        say("\n")
        return 130
    except PollyPipelineError as exc:
        notice(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
