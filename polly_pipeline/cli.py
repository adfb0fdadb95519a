"""CLI layer: the ``polly-pipeline`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from polly_pipeline.errors import PollyPipelineError

__all__ = ["main"]


def _default_ca_file() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "polly-pipeline" / "local-ca.pem"


def _add_local(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "local",
        help="run the local Polly service (offline voice; a stand-in for Amazon Polly)",
        description=(
            "Run the local Polly service: a real HTTP/2 server over TLS that speaks Amazon "
            "Polly's StartSpeechSynthesisStream protocol, SynthesizeSpeech and DescribeVoices, "
            "with an offline voice. Point any Polly client at the printed endpoint."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    p.add_argument(
        "--ca-file",
        type=Path,
        default=None,
        help=f"where to write the CA certificate clients must trust "
        f"(default: {_default_ca_file()})",
    )
    p.add_argument("--region", default=None, help="accept only requests signed for this region")
    p.add_argument(
        "--inbound-timeout",
        type=float,
        default=5.0,
        help="seconds without input before a stream is closed (Polly: 5)",
    )
    p.add_argument(
        "--max-duration",
        type=float,
        default=600.0,
        help="seconds a stream may live (Polly: 600)",
    )
    p.add_argument(
        "--max-concurrent-streams",
        type=int,
        default=100,
        help="HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection",
    )
    p.add_argument(
        "--latency",
        choices=("none", "realistic"),
        default="none",
        help="simulate the service's latency (default: none)",
    )
    p.set_defaults(func=_cmd_local)


def _cmd_local(args: argparse.Namespace) -> int:
    from polly_pipeline.local.config import LatencyModel, LocalServiceConfig  # noqa: PLC0415
    from polly_pipeline.local.service import LocalPollyService  # noqa: PLC0415

    config = LocalServiceConfig(
        host=args.host,
        port=args.port,
        region=args.region,
        inbound_event_timeout=args.inbound_timeout,
        max_stream_duration=args.max_duration,
        max_concurrent_streams=args.max_concurrent_streams,
        latency=LatencyModel.realistic() if args.latency == "realistic" else LatencyModel(),
    )
    ca_file = args.ca_file or _default_ca_file()

    async def serve() -> None:
        async with LocalPollyService(config, ca_file=ca_file) as service:
            creds = service.credentials
            url = service.endpoint_url
            print("Local Polly service (offline voice; a stand-in for Amazon Polly)")
            print(f"  endpoint     {url}")
            print(f"  CA file      {service.ca_file}")
            print(f"  region       {service.region}")
            print(f"  credentials  {creds.access_key} / {creds.secret_key}  (local only)")
            print("Point a client at it, e.g. from another shell:")
            print(
                f"  export AWS_ENDPOINT_URL_POLLY={url} AWS_CA_BUNDLE={service.ca_file} "
                f"AWS_REGION={service.region} AWS_DEFAULT_REGION={service.region} "
                f"AWS_ACCESS_KEY_ID={creds.access_key} "
                f"AWS_SECRET_ACCESS_KEY={creds.secret_key}"
            )
            print("Press Ctrl-C to stop.", flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
    except OSError as exc:
        raise PollyPipelineError(f"could not listen on {args.host}:{args.port}: {exc}") from exc
    return 0


def _add_speak(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "speak",
        help="synthesize text to an audio file over the bidirectional stream",
        description=(
            "Speak TEXT into an audio file. Uses Amazon Polly when AWS credentials are "
            "configured, otherwise the built-in local service (offline voice)."
        ),
    )
    p.add_argument(
        "text", nargs="?", default=None, help="the text to speak ('-' reads standard input)"
    )
    p.add_argument("-f", "--file", type=Path, default=None, help="speak this text/markdown file")
    p.add_argument(
        "--raw", action="store_true", help="send the text as it is (no markdown cleaning)"
    )
    _add_audio_options(p, default_name="speech")
    p.add_argument("--ssml", action="store_true", help="TEXT is an SSML document")
    _add_backend_options(p)
    p.set_defaults(func=_cmd_speak)


def _add_audio_options(p: argparse.ArgumentParser, *, default_name: str) -> None:
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help=f"audio file (default: {default_name}.<format>; a .wav name writes WAV)",
    )
    p.add_argument("--voice", default="Joanna", help="Polly voice id (default: Joanna)")
    p.add_argument(
        "--format",
        dest="output_format",
        default="mp3",
        help="mp3, ogg_vorbis, ogg_opus, pcm, mulaw or alaw (default: mp3)",
    )
    p.add_argument("--sample-rate", default=None, help="sample rate in Hz (default: the format's)")


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=("auto", "aws", "local"),
        default="auto",
        help="auto (default): Amazon Polly when AWS credentials are configured, else local",
    )
    p.add_argument("--region", default=None, help="AWS region (default: from your AWS config)")
    p.add_argument("--endpoint-url", default=None, help="a Polly endpoint to use instead")
    p.add_argument("--profile", default=None, help="AWS profile to use")
    p.add_argument("--ca-file", type=Path, default=None, help="extra CA bundle to trust")


def _cmd_speak(args: argparse.Namespace) -> int:
    from polly_pipeline.cli_speak import run_speak  # noqa: PLC0415

    if (args.text is None) == (args.file is None):
        raise PollyPipelineError("give the text to speak, '-' for standard input, or --file PATH")
    return asyncio.run(run_speak(args))


def _add_voices(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("voices", help="list Polly voices (id, language, gender, engines)")
    p.add_argument("--engine", default=None, help="only voices with this engine (e.g. generative)")
    p.add_argument(
        "--language", default=None, help="only voices of this language code (e.g. en-GB)"
    )
    p.set_defaults(func=_cmd_voices)


def _cmd_voices(args: argparse.Namespace) -> int:
    from polly_pipeline.local.voices import describe_voices_payload  # noqa: PLC0415

    voices = describe_voices_payload(engine=args.engine, language_code=args.language)["Voices"]
    if not voices:
        print("no voice matches", file=sys.stderr)
        return 1
    for v in sorted(voices, key=lambda v: (v["LanguageCode"], v["Id"])):
        engines = ",".join(v["SupportedEngines"])
        print(f"{v['Id']:<12} {v['LanguageCode']:<10} {v['Gender']:<7} {engines}")
    return 0


def _add_chat(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "chat",
        help="ask an LLM and hear its answer while it is being written",
        description=(
            "Send PROMPT to an LLM and speak its streamed answer into an audio file while it "
            "is still being written. The LLM is OpenAI (or any compatible server) when "
            "OPENAI_API_KEY or --base-url is set, else an offline demo model (a stand-in); "
            "Polly is Amazon Polly when AWS credentials are configured, else the local service."
        ),
    )
    p.add_argument("prompt", help="what to ask ('-' reads standard input)")
    _add_audio_options(p, default_name="answer")
    p.add_argument(
        "--model", default=None, help="LLM model (default: gpt-4o-mini, or the demo model)"
    )
    p.add_argument("--base-url", default=None, help="an OpenAI-compatible API base URL")
    p.add_argument("--system", default=None, help="a system prompt")
    p.add_argument("-q", "--quiet", action="store_true", help="no live progress line")
    _add_backend_options(p)
    p.set_defaults(func=_cmd_chat)


def _cmd_chat(args: argparse.Namespace) -> int:
    from polly_pipeline.cli_chat import run_chat  # noqa: PLC0415

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    return asyncio.run(run_chat(args, prompt))


def _add_plugins(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plugins", help="list installed sources, stages and sinks")
    p.set_defaults(func=_cmd_plugins)


def _cmd_plugins(args: argparse.Namespace) -> int:
    from polly_pipeline.plugins import discover  # noqa: PLC0415

    found = discover()
    for info in found:
        where = f"{info.distribution} {info.version}"
        if info.ok:
            print(f"{info.kind:<8} {info.name:<12} {info.target:<45} {where}")
        else:
            print(f"{info.kind:<8} {info.name:<12} FAILED TO LOAD ({where}): {info.error}")
    broken = sum(not i.ok for i in found)
    if broken:
        print(f"{broken} plugin(s) failed to load; the others work.", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``polly-pipeline`` command."""
    parser = argparse.ArgumentParser(
        prog="polly-pipeline",
        description="Turn a streaming LLM answer into speech with Amazon Polly's "
        "bidirectional stream (or the built-in local service).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_chat(sub)
    _add_speak(sub)
    _add_voices(sub)
    _add_plugins(sub)
    _add_local(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``polly-pipeline`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except PollyPipelineError as exc:
        print(f"polly-pipeline: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
