"""CLI layer: where the audio goes: files named by format, the speakers, any sink plugin.

The format follows the output file name (``.wav`` pcm in a WAV file, ``.ogg`` ogg_vorbis,
``.opus`` ogg_opus, ``.mp3``, ``.raw``/``.pcm`` raw pcm, ``.ulaw``/``.alaw`` raw G.711);
``--format`` is accepted when it agrees. Every file is counted, so messages name only files
that hold audio.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polly_pipeline.audio import FORMATS, SUFFIX_FORMATS
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.session import AudioChunk
from polly_pipeline.sinks import AudioSink, RawFileSink, WavFileSink
from polly_pipeline.sinks.wav import WAV_FORMATS

__all__ = [
    "FORMAT_SUFFIXES",
    "CountedFile",
    "Outputs",
    "choose_format",
    "numbered",
    "open_sinks",
]

#: File suffixes and the output formats each one holds: the audio layer's, plus ``.wav`` (pcm
#: unless --format says mulaw or alaw) and ``.raw`` (raw pcm).
FORMAT_SUFFIXES: dict[str, tuple[str, ...]] = {
    ".wav": tuple(WAV_FORMATS),
    **SUFFIX_FORMATS,
    ".raw": ("pcm",),
}

#: The file suffix used for a format when no file name is given (pcm: a WAV file).
DEFAULT_SUFFIX = {name: info.extension for name, info in FORMATS.items()} | {"pcm": ".wav"}

SPEAKER_DISTRIBUTION = "polly-pipeline-speaker"


def choose_format(output: Path | None, requested: str | None, fallback: str) -> str:
    """The output format: the file name's, ``requested`` when it agrees, else ``fallback``.

    A ``requested`` name that is no format at all is returned as it is: checking the
    synthesis parameters refuses it, listing the formats.

    Raises:
        ConfigurationError: ``requested`` disagrees with the file name, or the file name
            names no format and none was requested.
    """
    if output is None:
        return requested or fallback
    suffix = output.suffix.lower()
    fits = FORMAT_SUFFIXES.get(suffix)
    if fits is None:
        if requested:
            return requested
        known = ", ".join(FORMAT_SUFFIXES)
        raise ConfigurationError(
            f"cannot tell the audio format from the file name {output.name!r}; name it "
            f"{known}, or pass --format"
        )
    if requested and requested in FORMATS and requested not in fits:
        raise ConfigurationError(
            f"{output.name} holds {' or '.join(fits)} audio, not {requested}: drop --format "
            f"or name the file {output.stem}{DEFAULT_SUFFIX.get(requested, '.raw')}"
        )
    return requested or fits[0]


def numbered(path: Path, number: int) -> Path:
    """``answer.wav`` -> ``answer-3.wav``."""
    return path.with_name(f"{path.stem}-{number}{path.suffix}")


@dataclass
class CountedFile:
    """An audio file sink that counts the seconds it holds."""

    path: Path
    sink: AudioSink
    seconds: float = 0.0
    chunks: int = 0

    async def write(self, chunk: AudioChunk) -> None:
        """Write one chunk to the file."""
        await self.sink.write(chunk)
        self.seconds += chunk.seconds
        self.chunks += 1

    async def close(self) -> None:
        """Close the file (valid as far as it was written)."""
        await self.sink.close()

    @classmethod
    def create(cls, path: Path) -> CountedFile:
        """A WAV sink for ``.wav`` names, else raw bytes; refuses unwritable paths now."""
        sink: AudioSink = WavFileSink(path) if path.suffix.lower() == ".wav" else RawFileSink(path)
        return cls(path, sink)


@dataclass
class Outputs:
    """Every file written during a command, for the messages that name them."""

    files: list[CountedFile] = field(default_factory=list)

    def add(self, path: Path) -> CountedFile:
        """A new counted file sink (checked writable now)."""
        counted = CountedFile.create(path)
        self.files.append(counted)
        return counted

    def written(self) -> list[CountedFile]:
        """The files that hold audio."""
        return [f for f in self.files if f.chunks]

    def describe(self) -> str:
        """``12.4 s of audio in answer.wav`` (or ``no audio written``)."""
        files = self.written()
        if not files:
            return "no audio written"
        seconds = sum(f.seconds for f in files)
        names = ", ".join(str(f.path) for f in files)
        return f"{seconds:.1f} s of audio in {names}"


def speaker_install_command() -> str:
    """The exact command that installs the speaker plugin into this Python."""
    here = Path(__file__).resolve().parents[2] / "plugins" / SPEAKER_DISTRIBUTION
    target = str(here) if (here / "pyproject.toml").is_file() else SPEAKER_DISTRIBUTION
    editable = "-e " if target != SPEAKER_DISTRIBUTION else ""
    return f"{sys.executable} -m pip install {editable}{target}"


def _speaker(args: argparse.Namespace) -> AudioSink:
    from polly_pipeline import plugins  # noqa: PLC0415

    try:
        speaker = plugins.load("sinks", "speaker")
    except ConfigurationError as exc:
        if "failed to load" in str(exc):
            raise
        raise ConfigurationError(
            f"--play needs the speaker plugin; install it with: {speaker_install_command()}"
        ) from None
    backends = [args.audio_backend] if args.audio_backend else None
    _check_sound_device(args.device, backends)
    sink: AudioSink = speaker(device=args.device, backends=backends)
    return sink


def _check_sound_device(device: str | None, backends: list[str] | None) -> None:
    """Fail now, in one line, when there is nothing to play on (not at the first audio)."""
    try:
        check_playback = importlib.import_module("polly_pipeline_speaker").check_playback
    except (ImportError, AttributeError):  # it reports when it opens the device instead
        return
    try:
        with _native_stderr_silenced():  # the audio libraries' own complaints (ALSA...)
            check_playback(device, backends)
    except ConfigurationError as exc:
        if exc.__cause__ is None:  # an unknown device: the plugin's message lists the names
            raise ConfigurationError(f"--play: {exc}") from None
        which = f"the audio backend {backends[0]!r}" if backends else "this machine"
        cause = exc.__cause__
        reason = cause.args[0] if cause.args else cause
        raise ConfigurationError(
            f"--play: no sound device could be opened on {which} ({reason}); write a "
            "file with -o instead, pick another with --audio-backend or --device, or pass "
            "--audio-backend null to play silently in real time"
        ) from None


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send what C libraries write to file descriptor 2 nowhere while the block runs."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no standard error at all
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _named_sink(name: str) -> AudioSink:
    from polly_pipeline import plugins  # noqa: PLC0415

    factory: Any = plugins.load("sinks", name)
    try:
        sink: AudioSink = factory()
    except TypeError as exc:
        raise ConfigurationError(
            f"--sink {name}: this sink needs arguments ({exc}); use it from Python instead"
        ) from exc
    return sink


def open_sinks(args: argparse.Namespace) -> list[AudioSink]:
    """The players and plugin sinks the options ask for (files are made per turn)."""
    sinks: list[AudioSink] = []
    if args.play:
        sinks.append(_speaker(args))
    for name in args.sink or ():
        if name == "speaker" and args.play:
            continue
        sinks.append(_speaker(args) if name == "speaker" else _named_sink(name))
    return sinks
