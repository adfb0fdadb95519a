"""CLI layer: ``polly-pipeline speak`` and the choice between Amazon Polly and the local service."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError, CredentialsError, PollyPipelineError
from polly_pipeline.protocol.params import SynthesisParams

__all__ = [
    "EXTENSIONS",
    "LOCAL_POLLY_NOTICE",
    "aws_client",
    "aws_configured",
    "backend_client",
    "notice",
    "run_speak",
    "wants_local_polly",
]

EXTENSIONS = {
    "mp3": "mp3",
    "ogg_vorbis": "ogg",
    "ogg_opus": "opus",
    "pcm": "pcm",
    "mulaw": "ulaw",
    "alaw": "alaw",
}


def notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def aws_configured(profile: str | None) -> bool:
    from polly_pipeline.client.config import ChainCredentials  # noqa: PLC0415

    try:
        ChainCredentials(profile)()
    except CredentialsError:
        return False
    return True


#: The one-line notice printed whenever the local service stands in for Amazon Polly.
LOCAL_POLLY_NOTICE = (
    "Polly: the built-in local service (offline voice, a stand-in for Amazon Polly); "
    "configure AWS credentials and a region, or pass --backend aws, to use Amazon Polly."
)


def wants_local_polly(args: argparse.Namespace) -> bool:
    """Whether the options (or the lack of AWS credentials) choose the local service."""
    return args.backend == "local" or (
        args.backend == "auto" and not args.endpoint_url and not aws_configured(args.profile)
    )


def aws_client(args: argparse.Namespace) -> PollyStreamingClient:
    """A client for Amazon Polly (or the endpoint given), announced on stderr."""
    client = PollyStreamingClient(
        region=args.region,
        endpoint_url=args.endpoint_url,
        profile=args.profile,
        ca_file=str(args.ca_file) if args.ca_file else None,
    )
    where = "the endpoint" if client.endpoint_overridden else "Amazon Polly at"
    notice(f"Polly: {where} {client.endpoint_url} ({client.region}).")
    return client


@contextlib.asynccontextmanager
async def backend_client(args: argparse.Namespace) -> AsyncIterator[PollyStreamingClient]:
    """A client for the chosen backend: Amazon Polly, or the local service started here."""
    if not wants_local_polly(args):
        async with aws_client(args) as client:
            yield client
        return
    from polly_pipeline.local.service import LocalPollyService  # noqa: PLC0415

    notice(LOCAL_POLLY_NOTICE)
    async with LocalPollyService() as service, service.client() as client:
        yield client


async def run_speak(args: argparse.Namespace) -> int:
    """Speak text, a file or stdin into an audio file as it is read; prints the timings."""
    from polly_pipeline.pipeline import Pipeline  # noqa: PLC0415
    from polly_pipeline.session import SpeechSession  # noqa: PLC0415
    from polly_pipeline.sinks import sink_for_path  # noqa: PLC0415
    from polly_pipeline.sources import file_source, stdin_source  # noqa: PLC0415

    params = SynthesisParams.create(
        voice_id=args.voice, output_format=args.output_format, sample_rate=args.sample_rate
    )
    output: Path = args.output or Path(f"speech.{EXTENSIONS[params.output_format]}")
    if args.ssml:
        text = sys.stdin.read() if args.text == "-" else args.text or args.file.read_text()
        return await _speak_ssml(args, text, params, output)
    if args.file is not None:
        source: Any = file_source(args.file)
    elif args.text == "-":
        source = stdin_source()
    else:
        if not args.text.strip():
            raise ConfigurationError("nothing to speak: the text is empty")
        source = args.text
    sink = sink_for_path(output, params.output_format)  # refuses unwritable paths now
    async with (
        backend_client(args) as client,
        SpeechSession(
            client,
            voice_id=params.voice_id,
            output_format=params.output_format,
            sample_rate=params.sample_rate,
        ) as session,
    ):
        pipeline = Pipeline(session, clean=not args.raw)
        try:
            report = await pipeline.run(source, sink)
        except PollyPipelineError as exc:
            kept = pipeline.last_report.audio_seconds if pipeline.last_report else 0.0
            raise PollyPipelineError(
                f"{exc} (the {kept:.1f} s of audio made so far are in {output})"
            ) from exc
    if report.characters_in == 0:
        raise ConfigurationError("nothing to speak: the input is empty")
    billed = report.turn.characters_billed if report.turn else 0
    print(
        f"wrote {output} ({report.audio_seconds:.1f} s of audio) | first audio after "
        f"{(report.time_to_first_audio or 0):.3f} s, done in {report.total_seconds:.3f} s | "
        f"{billed} characters billed"
    )
    return 0


async def _speak_ssml(
    args: argparse.Namespace, text: str, params: SynthesisParams, output: Path
) -> int:
    """One SSML document, sent whole on one stream (SSML cannot be split)."""
    from polly_pipeline.session import AudioChunk, AudioClock, AudioFormat  # noqa: PLC0415
    from polly_pipeline.sinks import sink_for_path  # noqa: PLC0415

    if not text.strip():
        raise ConfigurationError("nothing to speak: the text is empty")
    sink = sink_for_path(output, params.output_format)  # refuses unwritable paths now
    fmt = AudioFormat(params.output_format, params.effective_sample_rate)
    clock = AudioClock(fmt.output_format, fmt.sample_rate)
    async with backend_client(args) as client:
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
                    await sink.write(AudioChunk(data, fmt, 0, sequence, seconds))
                    sequence += 1
        finally:
            await sink.close()
    print(
        f"wrote {output} ({clock.seconds:.1f} s of audio) | "
        f"done in {time.monotonic() - started:.3f} s | "
        f"{stream.stats.request_characters} characters billed"
    )
    return 0
