"""A custom sink, written inline: a live timeline of the audio chunks as they arrive.

    python examples/custom_sink.py -o timeline.wav

A sink is any object with ``async write(chunk)`` and an idempotent ``async close()``;
subclassing :class:`~polly_pipeline.sinks.BaseSink` adds the bookkeeping (one format per sink,
no writes after close). This one prints a line per chunk: its number, where it sits on the
audio timeline, its size and its loudness; then a total. It runs next to a WAV file sink, so
the printed timeline can be checked against the file. Uses the built-in local Polly service
unless AWS credentials are configured (``--backend`` forces one).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from array import array
from pathlib import Path

from polly_pipeline import SpeechSession
from polly_pipeline.backends import PollyOptions, open_polly
from polly_pipeline.errors import PollyPipelineError
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.session import AudioChunk
from polly_pipeline.sinks import BaseSink, WavFileSink
from polly_pipeline.testing import scripted_tokens

TEXT = (
    "Every chunk of audio reaches the sink as soon as Polly sends it. "
    "This timeline shows where each one falls, how big it is, and how loud. "
    "A sink can play it, save it, or measure it."
)


class TimelineSink(BaseSink):
    """Prints one line per pcm chunk: number, start and end on the timeline, bytes, level."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self.bytes = 0
        self.chunks = 0

    async def _write(self, chunk: AudioChunk) -> None:
        samples = array("h", chunk.data[: len(chunk.data) // 2 * 2])
        if sys.byteorder == "big":
            samples.byteswap()
        rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
        level = 20 * math.log10(rms / 32768) if rms > 0 else -96.0
        start, self.seconds = self.seconds, self.seconds + chunk.seconds
        self.bytes += len(chunk.data)
        self.chunks += 1
        print(
            f"chunk {chunk.sequence:3d}  {start:6.3f} s -> {self.seconds:6.3f} s  "
            f"{len(chunk.data):6d} bytes  {level:6.1f} dBFS  {'#' * max(0, int(level + 60) // 3)}",
            flush=True,
        )

    async def _close(self) -> None:
        print(f"total: {self.chunks} chunks, {self.bytes} bytes, {self.seconds:.3f} s", flush=True)


async def speak(args: argparse.Namespace) -> int:
    """Speak the text (paced like a model streaming it) into the timeline and the WAV file."""
    timeline = TimelineSink()
    wav = WavFileSink(args.output)
    async with (
        open_polly(
            PollyOptions.from_args(args),
            notice=lambda message: print(message, file=sys.stderr),
        ) as client,
        SpeechSession(client, voice_id=args.voice, output_format="pcm") as session,
    ):
        tokens = scripted_tokens(args.text, first_token_delay=0.2, tokens_per_second=60)
        await Pipeline(session).run(tokens, timeline, wav)
    print(f"wrote {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run; errors are printed in one line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("timeline.wav"))
    parser.add_argument("--text", default=TEXT, help="what to say")
    parser.add_argument("--voice", default="Joanna", help="Polly voice id (default: Joanna)")
    parser.add_argument("--backend", choices=("auto", "aws", "local"), default="auto")
    parser.add_argument("--region", default=None, help="AWS region (default: your AWS config)")
    parser.add_argument("--endpoint-url", default=None, help="a Polly endpoint to use instead")
    parser.add_argument("--profile", default=None, help="AWS profile to use")
    parser.add_argument("--ca-file", type=Path, default=None, help="extra CA bundle to trust")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(speak(args))
    except PollyPipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
