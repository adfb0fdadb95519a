"""CLI layer: the options the commands share, their defaults from the environment."""

from __future__ import annotations

import argparse
import errno
import os
import socket
from pathlib import Path

from polly_pipeline.backends import LLMOptions, PollyOptions, uses_real_llm
from polly_pipeline.cli.outputs import DEFAULT_SUFFIX, Outputs, choose_format, numbered, open_sinks
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.protocol.params import SynthesisParams
from polly_pipeline.sinks import AudioSink

__all__ = [
    "ENVIRONMENT",
    "add_audio_options",
    "add_backend_options",
    "add_model_options",
    "check_listen_address",
    "env",
    "llm_options",
    "polly_options",
    "synthesis_params",
    "turn_outputs",
]

#: The environment variables that give defaults, and what for.
ENVIRONMENT = {
    "POLLY_PIPELINE_VOICE": "voice (default Joanna)",
    "POLLY_PIPELINE_FORMAT": "format when the file name does not say (default mp3)",
    "POLLY_PIPELINE_MODEL": "model of the OpenAI-compatible server",
    "POLLY_PIPELINE_BACKEND": "Polly backend: auto, aws or local",
    "POLLY_PIPELINE_AUDIO_BACKEND": "audio backend for --play (e.g. null)",
    "POLLY_PIPELINE_LOG_LEVEL": "log level (e.g. INFO, DEBUG)",
    "OPENAI_API_KEY": "key for OpenAI (none needed with --base-url)",
    "OPENAI_BASE_URL": "default for --base-url",
}


def env(name: str, default: str | None = None) -> str | None:
    """A default from the environment (unset or empty: ``default``)."""
    return os.environ.get(name) or default


def add_audio_options(p: argparse.ArgumentParser, *, default_name: str) -> None:
    """Voice, format and where the audio goes."""
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help=f"audio file; its name sets the format: .wav (pcm), .mp3, .ogg (ogg_vorbis), "
        f".opus (ogg_opus), .raw/.pcm, .ulaw, .alaw (default: {default_name}.mp3 unless "
        "--play or --sink is given)",
    )
    p.add_argument(
        "--play",
        action="store_true",
        help="play the audio on the speakers as it streams (the speaker plugin)",
    )
    p.add_argument(
        "--sink",
        action="append",
        metavar="NAME",
        help="also send the audio to this sink plugin (see 'polly-pipeline plugins'); repeatable",
    )
    p.add_argument(
        "--audio-backend",
        default=env("POLLY_PIPELINE_AUDIO_BACKEND"),
        help="audio backend for --play, e.g. pulseaudio, alsa or null (silent, real time)",
    )
    p.add_argument("--device", default=None, help="playback device for --play")
    p.add_argument(
        "--voice",
        default=env("POLLY_PIPELINE_VOICE", "Joanna"),
        help="Polly voice id (default: Joanna)",
    )
    p.add_argument(
        "--format",
        dest="output_format",
        default=None,
        help="mp3, ogg_vorbis, ogg_opus, pcm, mulaw or alaw; with -o only when it agrees "
        "with the file name",
    )
    p.add_argument("--sample-rate", default=None, help="sample rate in Hz (default: the format's)")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="print only the summary (no text, no status)"
    )


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """Amazon Polly or the local service."""
    p.add_argument(
        "--backend",
        choices=("auto", "aws", "local"),
        default=env("POLLY_PIPELINE_BACKEND", "auto"),
        help="auto (default): Amazon Polly when AWS credentials are configured on this machine "
        "(instance roles only with 'aws'), else the local service",
    )
    p.add_argument("--region", default=None, help="AWS region (default: from your AWS config)")
    p.add_argument("--endpoint-url", default=None, help="a Polly endpoint to use instead")
    p.add_argument("--profile", default=None, help="AWS profile to use")
    p.add_argument("--ca-file", type=Path, default=None, help="extra CA bundle to trust")


def add_model_options(p: argparse.ArgumentParser) -> None:
    """The OpenAI-compatible model, or the demo model."""
    p.add_argument(
        "--model",
        default=env("POLLY_PIPELINE_MODEL"),
        help="LLM model, with OPENAI_API_KEY or --base-url (default: gpt-4o-mini; with "
        "neither, the offline demo model)",
    )
    p.add_argument(
        "--base-url",
        default=env("OPENAI_BASE_URL"),
        help="an OpenAI-compatible API base URL (Ollama, llama.cpp, vLLM...; no key needed)",
    )
    p.add_argument("--system", default=None, help="a system prompt")


def polly_options(args: argparse.Namespace) -> PollyOptions:
    """The Polly backend the options choose."""
    return PollyOptions.from_args(args)


def llm_options(args: argparse.Namespace) -> LLMOptions:
    """The model the options choose.

    Raises:
        ConfigurationError: a model is named but no server to ask it (no key, no base URL):
            the offline demo model would answer in its place, under that name.
    """
    options = LLMOptions(base_url=args.base_url, model=args.model)
    if options.model and not uses_real_llm(options):
        raise ConfigurationError(
            f"--model {options.model} (or POLLY_PIPELINE_MODEL): no model server is "
            "configured; set OPENAI_API_KEY for OpenAI or pass --base-url for another server "
            "(Ollama, llama.cpp, vLLM), or leave the model out for the offline demo model"
        )
    return options


def synthesis_params(args: argparse.Namespace, *, default_name: str) -> SynthesisParams:
    """Voice and format, checked; sets ``args.output`` to the file to write (or None).

    Raises:
        ConfigurationError: a bad voice or format, or a format that disagrees with ``-o``.
    """
    elsewhere = bool(args.play or args.sink)
    fallback = env("POLLY_PIPELINE_FORMAT") or ("pcm" if elsewhere else "mp3")
    fmt = choose_format(args.output, args.output_format, fallback)
    params = SynthesisParams.create(
        voice_id=args.voice, output_format=fmt, sample_rate=args.sample_rate
    )
    if args.output is None and not elsewhere:
        args.output = Path(default_name + DEFAULT_SUFFIX[params.output_format])
    return params


def turn_outputs(
    args: argparse.Namespace, outputs: Outputs, number: int | None = None
) -> list[AudioSink]:
    """The sinks of one run (or of turn ``number``): the file, then players and plugins."""
    sinks: list[AudioSink] = []
    if args.output is not None:
        path = args.output if number is None else numbered(args.output, number)
        sinks.append(outputs.add(path))
    sinks.extend(open_sinks(args))
    return sinks


def check_listen_address(host: str, port: int) -> None:
    """Refuse --host/--port that cannot be bound, before anything starts (a probe bind)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigurationError(
                    f"port {port} on {host} is already in use (another server, perhaps another "
                    f"polly-pipeline); stop it, or pass a free one: --port {port + 1}"
                ) from None
            if exc.errno == errno.EACCES:
                raise ConfigurationError(
                    f"no permission to listen on port {port}; pass --port 1024 or higher"
                ) from None
            raise ConfigurationError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); check --host and --port"
            ) from None
