"""CLI layer: text from arguments, files and standard input, checked before anything starts."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from polly_pipeline.errors import ConfigurationError

__all__ = ["NonBlank", "decode", "read_file", "read_stdin"]


def decode(data: bytes, name: str) -> str:
    """``data`` as UTF-8 text (a leading byte order mark dropped).

    Raises:
        ConfigurationError: not UTF-8; the message names the byte offset.
    """
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise ConfigurationError(
            f"{name} is not UTF-8 text: byte offset {exc.start} (0x{bad}) {exc.reason}; "
            "convert it first, e.g. with iconv -t UTF-8"
        ) from None


def read_stdin() -> str:
    """All of standard input, as UTF-8 text."""
    return decode(sys.stdin.buffer.read(), "standard input")


def read_file(path: Path) -> str:
    """A whole text file, as UTF-8 text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    return decode(data, str(path))


class NonBlank:
    """Passes text through and notes whether any of it was more than whitespace."""

    def __init__(self, source: AsyncIterable[str]) -> None:
        self._source = source
        self.seen = False

    async def __aiter__(self) -> AsyncIterator[str]:
        async for text in self._source:
            if not self.seen and text.strip():
                self.seen = True
            yield text
