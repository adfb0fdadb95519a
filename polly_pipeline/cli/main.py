"""CLI layer: the ``polly-pipeline`` command: its parser, logging and exit statuses."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from polly_pipeline.cli.doctor import add_doctor
from polly_pipeline.cli.hints import hint
from polly_pipeline.cli.local import add_local
from polly_pipeline.cli.options import (
    ENVIRONMENT,
    add_audio_options,
    add_backend_options,
    add_model_options,
    env,
)
from polly_pipeline.cli.running import Context, run_command
from polly_pipeline.cli.serve import add_serve
from polly_pipeline.errors import PollyPipelineError

__all__ = ["build_parser", "main"]

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _logging_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    """``-v`` and ``--log-level``, accepted before and after the command."""
    default: object = 0 if top else argparse.SUPPRESS
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="show streams opened, segments sent with their times, first audio and retries "
        "(-vv: debug)",
    )
    p.add_argument(
        "--log-level",
        type=str.upper,
        choices=_LEVELS,
        default=env("POLLY_PIPELINE_LOG_LEVEL") if top else argparse.SUPPRESS,
        help="log level (overrides -v)",
    )


def _add_speak(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "speak",
        help="speak text, a file or standard input, as it is read",
        description=(
            "Speak TEXT into an audio file (or the speakers). Uses Amazon Polly when AWS "
            "credentials are configured, otherwise the built-in local service (offline voice)."
        ),
    )
    _logging_options(p, top=False)
    p.add_argument(
        "text",
        nargs="?",
        default=None,
        help="the text to speak ('-', or no TEXT when it is piped: standard input)",
    )
    p.add_argument("-f", "--file", type=Path, default=None, help="speak this text/markdown file")
    p.add_argument(
        "--raw", action="store_true", help="send the text as it is (no markdown cleaning)"
    )
    add_audio_options(p, default_name="speech")
    p.add_argument("--ssml", action="store_true", help="TEXT is an SSML document")
    add_backend_options(p)
    p.set_defaults(func=_cmd_speak)


def _cmd_speak(args: argparse.Namespace, ctx: Context) -> int:
    from polly_pipeline.cli.speak import run_speak  # noqa: PLC0415

    if args.text is None and args.file is None and _piped(sys.stdin):
        args.text = "-"  # echo Hello | polly-pipeline speak
    if (args.text is None) == (args.file is None):
        raise PollyPipelineError(
            "give the text to speak, '-' for standard input, or --file PATH (not both)"
            if args.text is not None
            else "give the text to speak, '-' for standard input, or --file PATH"
        )
    return run_command(run_speak(args, ctx), ctx.outputs)


def _piped(stream: TextIO | None) -> bool:
    """Standard input is a pipe or a file, not a terminal (nor closed)."""
    try:
        return stream is not None and not stream.isatty()
    except ValueError:  # closed
        return False


def _add_chat(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "chat",
        help="ask an LLM; its answer is shown and spoken while it is written",
        description=(
            "Send PROMPT to an LLM: its answer streams onto the screen and is spoken while it "
            "is still being written. Without PROMPT (or with -i) it is a conversation: one "
            "prompt per line (typed or piped), the history kept, Enter on an empty line "
            "while it speaks interrupts (the history keeps what was heard), Ctrl-D ends it. "
            "The LLM is OpenAI (or any compatible server) when OPENAI_API_KEY or --base-url "
            "is set, else an offline demo model (a stand-in); Polly is Amazon Polly when AWS "
            "credentials are configured, else the local service."
        ),
    )
    _logging_options(p, top=False)
    p.add_argument("prompt", nargs="?", default=None, help="what to ask ('-' reads standard input)")
    p.add_argument(
        "-i",
        "--interactive",
        action="store_true",
        help="converse: after PROMPT (if any), read more prompts, one per line",
    )
    add_audio_options(p, default_name="answer")
    p.add_argument(
        "--one-file",
        action="store_true",
        help="in a conversation, write every turn into the -o file (default: one file per "
        "turn, answer-1.mp3, answer-2.mp3...)",
    )
    add_model_options(p)
    add_backend_options(p)
    p.set_defaults(func=_cmd_chat)


def _cmd_chat(args: argparse.Namespace, ctx: Context) -> int:
    from polly_pipeline.cli.chat import run_chat  # noqa: PLC0415

    return run_command(run_chat(args, ctx), ctx.outputs)


def _add_voices(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("voices", help="list Polly voices (id, language, gender, engines)")
    _logging_options(p, top=False)
    p.add_argument("--engine", default=None, help="only voices with this engine (e.g. generative)")
    p.add_argument(
        "--language",
        default=None,
        help="only voices of this language code (e.g. en-GB; en: every English voice)",
    )
    p.set_defaults(func=_cmd_voices)


def _cmd_voices(args: argparse.Namespace, ctx: Context) -> int:
    from polly_pipeline.local.voices import describe_voices_payload  # noqa: PLC0415

    every = describe_voices_payload()["Voices"]
    voices = [v for v in every if _speaks(v, args.language) and _has_engine(v, args.engine)]
    if not voices:
        print(_no_voice(every, args), file=sys.stderr)
        return 1
    for v in sorted(voices, key=lambda v: (v["LanguageCode"], v["Id"])):
        engines = ",".join(v["SupportedEngines"])
        print(f"{v['Id']:<12} {v['LanguageCode']:<10} {v['Gender']:<7} {engines}")
    return 0


def _speaks(voice: dict[str, Any], language: str | None) -> bool:
    """``en-GB``, ``en-gb`` and ``en`` (every English) all match an en-GB voice."""
    if language is None:
        return True
    code = str(voice["LanguageCode"]).lower()
    return language.lower() in (code, code.split("-")[0])


def _has_engine(voice: dict[str, Any], engine: str | None) -> bool:
    return engine is None or engine.lower() in (e.lower() for e in voice["SupportedEngines"])


def _no_voice(every: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """Why no voice matched, and what would."""
    if not any(_speaks(v, args.language) for v in every):
        codes = sorted({str(v["LanguageCode"]) for v in every})
        return f"no voice speaks {args.language!r}; pass --language with one of: {', '.join(codes)}"
    if not any(_has_engine(v, args.engine) for v in every):
        engines = sorted({str(e) for v in every for e in v["SupportedEngines"]})
        return f"no voice has the engine {args.engine!r}; pass --engine {' or '.join(engines)}"
    return (
        f"no {args.language} voice has the {args.engine} engine; leave out --engine to see "
        f"the {args.language} voices"
    )


def _add_plugins(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plugins", help="list installed sources, stages and sinks")
    _logging_options(p, top=False)
    p.set_defaults(func=_cmd_plugins)


def _cmd_plugins(args: argparse.Namespace, ctx: Context) -> int:
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


def _version() -> str:
    try:
        return metadata.version("polly-pipeline")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``polly-pipeline`` command."""
    variables = "\n".join(f"  {name:<30} {what}" for name, what in ENVIRONMENT.items())
    parser = argparse.ArgumentParser(
        prog="polly-pipeline",
        description="Turn a streaming LLM answer into speech with Amazon Polly's "
        "bidirectional stream (or the built-in local service).",
        epilog=f"defaults from the environment:\n{variables}\n\n"
        "exit status: 0 done, 1 nothing found, 2 an error (one line on standard error), "
        "130 Ctrl-C, 143 SIGTERM",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"polly-pipeline {_version()}")
    _logging_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_chat(sub)
    _add_speak(sub)
    _add_voices(sub)
    _add_plugins(sub)
    add_local(sub)
    add_serve(sub)
    add_doctor(sub)
    for name in ("local", "serve", "doctor"):
        _logging_options(sub.choices[name], top=False)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    level = args.log_level or (
        "DEBUG" if args.verbose >= 2 else "INFO" if args.verbose else "WARNING"
    )
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("polly_pipeline").setLevel(level)
    if level == "DEBUG":
        logging.getLogger().setLevel(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``polly-pipeline`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    try:
        status = args.func(args, Context())
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (``polly-pipeline voices | head``): stop quietly, like cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except PollyPipelineError as exc:
        print(f"polly-pipeline: error: {exc}{hint(exc, args)}", file=sys.stderr)
        return 2
    return int(status)
