"""CLI layer: ``polly-pipeline speak`` and the choice between Amazon Polly and the local service."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from polly_pipeline.client import PollyStreamingClient, split_text
from polly_pipeline.errors import ConfigurationError, CredentialsError, PollyPipelineError
from polly_pipeline.protocol.params import SynthesisParams

__all__ = ["EXTENSIONS", "aws_configured", "backend_client", "notice", "run_speak"]

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


@contextlib.asynccontextmanager
async def backend_client(args: argparse.Namespace) -> AsyncIterator[PollyStreamingClient]:
    """A client for the chosen backend: Amazon Polly, or the local service started here."""
    use_local = args.backend == "local" or (
        args.backend == "auto" and not args.endpoint_url and not aws_configured(args.profile)
    )
    if not use_local:
        client = PollyStreamingClient(
            region=args.region,
            endpoint_url=args.endpoint_url,
            profile=args.profile,
            ca_file=str(args.ca_file) if args.ca_file else None,
        )
        where = "the Polly endpoint" if client.endpoint_overridden else "Amazon Polly at"
        notice(f"Using {where} {client.endpoint_url} ({client.region}).")
        async with client:
            yield client
        return
    from polly_pipeline.local.service import LocalPollyService  # noqa: PLC0415

    notice(
        "Using the built-in local Polly service (offline voice, a stand-in for Amazon Polly); "
        "configure AWS credentials and a region, or pass --backend aws, to use Amazon Polly."
    )
    async with LocalPollyService() as service, service.client() as client:
        yield client


def _check_output(path: Path) -> None:
    """Fail before any synthesis if the output cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigurationError(f"output {path} is a directory; give a file name")
    if not parent.is_dir():
        raise ConfigurationError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigurationError(f"cannot write {path}: permission denied")


async def run_speak(args: argparse.Namespace, text: str) -> int:
    """Synthesize ``text`` into a file, writing audio as it arrives; prints timings."""
    if not text.strip():
        raise ConfigurationError("nothing to speak: the text is empty")
    params = SynthesisParams.create(
        voice_id=args.voice, output_format=args.output_format, sample_rate=args.sample_rate
    )
    output: Path = args.output or Path(f"speech.{EXTENSIONS[params.output_format]}")
    _check_output(output)
    first_audio: float | None = None
    written = 0
    async with backend_client(args) as client:
        started = time.monotonic()  # from the request: backend start-up is not speech latency
        stream = await client.open_stream(
            voice_id=params.voice_id,
            output_format=params.output_format,
            sample_rate=params.sample_rate,
        )
        async with stream:
            if args.ssml:
                await stream.send_ssml(text)
            else:
                for part in split_text(text):
                    await stream.send_text(part)
            await stream.end_input()
            with output.open("wb") as out:
                try:
                    async for chunk in stream.audio():
                        if first_audio is None:
                            first_audio = time.monotonic() - started
                        out.write(chunk)
                        written += len(chunk)
                except PollyPipelineError as exc:
                    raise PollyPipelineError(
                        f"{exc} (the {written} bytes of audio received so far are in {output})"
                    ) from exc
    total = time.monotonic() - started
    seconds = _audio_seconds(output, params)
    billed = stream.stats.request_characters
    print(
        f"wrote {output} ({written} bytes, {seconds:.1f} s of audio) | "
        f"first audio after {first_audio or 0:.3f} s, done in {total:.3f} s | "
        f"{billed} characters billed"
    )
    return 0


def _audio_seconds(path: Path, params: SynthesisParams) -> float:
    from polly_pipeline.local.audio import decode_audio, duration_seconds  # noqa: PLC0415

    rate = params.effective_sample_rate
    try:
        pcm = decode_audio(path.read_bytes(), params.output_format, rate)  # type: ignore[arg-type]
    except ValueError:
        return 0.0
    return duration_seconds(pcm, rate)
