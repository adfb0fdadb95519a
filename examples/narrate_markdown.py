"""Narrate a markdown document into an audio file through the pipeline, showing progress.

    python examples/narrate_markdown.py examples/sample.md -o sample.mp3

The document is read in pieces, cleaned of markdown, cut into sentences and spoken as it is
read; a line is printed for every sentence sent. With no AWS credentials it uses the built-in
local Polly service (offline voice); with AWS credentials and a region it uses Amazon Polly,
chosen the way ``polly-pipeline speak`` chooses (``--backend`` forces one).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from polly_pipeline import SpeechSession
from polly_pipeline.backends import PollyOptions, open_polly
from polly_pipeline.errors import PollyPipelineError
from polly_pipeline.pipeline import Pipeline, PipelineReport
from polly_pipeline.sinks import sink_for_path
from polly_pipeline.sources import file_source

#: Output formats and the file extension each is written with.
EXTENSIONS = {
    "mp3": "mp3",
    "ogg_vorbis": "ogg",
    "ogg_opus": "opus",
    "pcm": "wav",
    "mulaw": "ulaw",
    "alaw": "alaw",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the document, the output and the backend options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("document", type=Path, help="the markdown (or text) file to narrate")
    parser.add_argument("-o", "--output", type=Path, default=None, help="audio file to write")
    parser.add_argument("--voice", default="Joanna", help="Polly voice id (default: Joanna)")
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=sorted(EXTENSIONS),
        default=None,
        help="audio format (default: from the output file's extension, else mp3)",
    )
    parser.add_argument("--backend", choices=("auto", "aws", "local"), default="auto")
    parser.add_argument("--region", default=None, help="AWS region (default: your AWS config)")
    parser.add_argument("--endpoint-url", default=None, help="a Polly endpoint to use instead")
    parser.add_argument("--profile", default=None, help="AWS profile to use")
    parser.add_argument("--ca-file", type=Path, default=None, help="extra CA bundle to trust")
    return parser.parse_args(argv)


def choose_format(args: argparse.Namespace) -> tuple[str, Path]:
    """The audio format and output path, each defaulting from the other."""
    by_extension = {ext: fmt for fmt, ext in EXTENSIONS.items()} | {"pcm": "pcm", "raw": "pcm"}
    fmt = args.output_format
    if fmt is None:
        suffix = args.output.suffix.lstrip(".").lower() if args.output else ""
        fmt = by_extension.get(suffix, "mp3")
    output = args.output or args.document.with_suffix("." + EXTENSIONS[fmt])
    return fmt, output


class Progress:
    """Prints a line for every sentence sent to Polly and for every 5 seconds of audio back."""

    def __init__(self, total_chars: int, audio_step: float = 5.0) -> None:
        self.total_chars = max(total_chars, 1)
        self.audio_step = audio_step
        self.segments = 0
        self.audio_marks = 0

    def __call__(self, report: PipelineReport) -> None:
        if report.segments_sent > self.segments:
            self.segments = report.segments_sent
            read = min(100, 100 * report.characters_in // self.total_chars)
            self.line(report, f"sentence {self.segments} sent ({read}% of the document read)")
        marks = int(report.audio_seconds // self.audio_step)
        if marks > self.audio_marks:
            self.audio_marks = marks
            self.line(report, f"{report.audio_seconds:.1f} s of audio written")

    @staticmethod
    def line(report: PipelineReport, what: str) -> None:
        print(f"{report.elapsed():7.2f} s  {what}", flush=True)


async def narrate(args: argparse.Namespace) -> int:
    """Speak the document into the output file; returns the exit status."""
    fmt, output = choose_format(args)
    source = file_source(args.document)  # fails now, naming the file, if it cannot be read
    sink = sink_for_path(output, fmt)  # likewise for the output
    size = args.document.stat().st_size
    print(f"narrating {args.document} ({size} bytes) into {output} ({fmt}, {args.voice})")
    async with (
        open_polly(
            PollyOptions.from_args(args), notice=lambda message: print(message, file=sys.stderr)
        ) as client,
        SpeechSession(client, voice_id=args.voice, output_format=fmt) as session,
    ):
        report = await Pipeline(session, on_progress=Progress(size)).run(source, sink)
    print(f"wrote {output}: {report.audio_seconds:.1f} s of audio")
    print(report.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the example; errors are printed in one line, not as a traceback."""
    args = parse_args(argv)
    try:
        return asyncio.run(narrate(args))
    except PollyPipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
