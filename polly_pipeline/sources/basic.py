"""Pipeline layer: text sources that need no LLM: iterables, files and stdin.

Each returns an async iterator of text pieces, like an LLM's deltas. Arguments are checked
when the source is created (a missing file fails at once, naming it); files and stdin are
opened when iteration starts. Reading never blocks the event loop: regular files are read on a
worker thread, pipes, FIFOs and terminals through the loop's own pipe transport (so a source
waiting for input can be cancelled at once).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import io
import os
import stat
import sys
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import BinaryIO

from polly_pipeline.errors import ConfigurationError

__all__ = ["file_source", "iterable_source", "stdin_source"]

_READ_SIZE = 64 * 1024


def iterable_source(items: Iterable[str] | AsyncIterable[str]) -> AsyncIterator[str]:
    """Yield the strings of a sync or async iterable; empty strings are skipped.

    A sync iterable hands control back to the event loop after every item, so a long list
    does not starve other tasks. A single ``str`` is one piece of text, not its characters.
    """
    if isinstance(items, str):
        return _from_sync((items,))
    if isinstance(items, AsyncIterable):
        return _from_async(items)
    if isinstance(items, Iterable):
        return _from_sync(items)
    raise ConfigurationError(
        f"iterable_source needs an iterable or async iterable of str, not {type(items).__name__}"
    )


def file_source(
    path: str | os.PathLike[str], *, chunk_chars: int = 64, encoding: str = "utf-8"
) -> AsyncIterator[str]:
    """Yield a text file's contents in pieces of at most ``chunk_chars`` characters.

    FIFOs work too: text is yielded as the writer writes it.

    Raises:
        ConfigurationError: the file is missing, a directory or unreadable, the encoding is
            unknown, or (while iterating) the bytes are not valid in ``encoding``.
    """
    _check_options(chunk_chars, encoding)
    target = Path(path)
    if not target.exists():
        raise ConfigurationError(f"cannot read text from {target}: no such file")
    if target.is_dir():
        raise ConfigurationError(f"cannot read text from {target}: it is a directory")
    if not os.access(target, os.R_OK):
        raise ConfigurationError(f"cannot read text from {target}: permission denied")
    return _decode(_file_bytes(target), str(target), encoding, chunk_chars)


def stdin_source(*, chunk_chars: int = 64, encoding: str = "utf-8") -> AsyncIterator[str]:
    """Yield standard input as it arrives, in pieces of at most ``chunk_chars`` characters.

    Reads the file descriptor directly (whatever ``sys.stdin`` buffered already is not seen)
    and leaves stdin itself open.

    Raises:
        ConfigurationError: bad options, or (while iterating) stdin is closed or not
            decodable as ``encoding``.
    """
    _check_options(chunk_chars, encoding)
    return _decode(_stdin_bytes(), "stdin", encoding, chunk_chars)


# --- iterables -------------------------------------------------------------------------------


async def _from_sync(items: Iterable[str]) -> AsyncGenerator[str, None]:
    for index, item in enumerate(items):
        _check_item(item, index)
        if item:
            yield item
        await asyncio.sleep(0)


async def _from_async(items: AsyncIterable[str]) -> AsyncGenerator[str, None]:
    iterator = aiter(items)
    try:
        index = 0
        async for item in iterator:
            _check_item(item, index)
            index += 1
            if item:
                yield item
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


def _check_item(item: object, index: int) -> None:
    if not isinstance(item, str):
        raise ConfigurationError(
            f"iterable_source yields text: item {index} is a {type(item).__name__}, not a str"
        )


# --- bytes from files and stdin --------------------------------------------------------------


def _check_options(chunk_chars: int, encoding: str) -> None:
    if chunk_chars < 1:
        raise ConfigurationError(f"chunk_chars must be at least 1, got {chunk_chars}")
    try:
        codecs.getincrementaldecoder(encoding)
    except LookupError:
        raise ConfigurationError(f"unknown text encoding {encoding!r}") from None


async def _file_bytes(path: Path) -> AsyncGenerator[bytes, None]:
    try:
        # a FIFO's open waits for a writer: never on the loop
        file = await asyncio.to_thread(open, path, "rb", buffering=0)
    except OSError as exc:
        raise ConfigurationError(f"cannot read text from {path}: {exc.strerror}") from exc
    async with contextlib.aclosing(_read_all(file, str(path))) as chunks:
        async for data in chunks:
            yield data


async def _stdin_bytes() -> AsyncGenerator[bytes, None]:
    try:
        fd = sys.stdin.fileno()
        copy = os.dup(fd)
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation) as exc:
        raise ConfigurationError(f"stdin cannot be read: {exc}") from exc
    blocking = os.get_blocking(fd)
    file = io.FileIO(copy, "r")  # a duplicate: closing it leaves stdin open
    try:
        async with contextlib.aclosing(_read_all(file, "stdin")) as chunks:
            async for data in chunks:
                yield data
    finally:
        file.close()
        with contextlib.suppress(OSError):
            os.set_blocking(
                fd, blocking
            )  # the pipe transport made the shared description non-blocking


async def _read_all(file: BinaryIO, name: str) -> AsyncGenerator[bytes, None]:
    """The bytes of an open file until EOF; closes it."""
    try:
        fd = file.fileno()
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and os.isatty(fd)):
            # closed here, before ``file``: a pipe transport left polling a closed descriptor
            # logs "Bad file descriptor" tracebacks
            async with contextlib.aclosing(_read_pipe(file)) as pipe:
                async for data in pipe:
                    yield data
            return
        # regular files and devices the loop cannot poll (such as /dev/null)
        while True:
            try:
                data = await asyncio.to_thread(file.read, _READ_SIZE)
            except OSError as exc:
                raise ConfigurationError(f"cannot read text from {name}: {exc.strerror}") from exc
            if not data:
                return
            yield data
    finally:
        file.close()


async def _read_pipe(file: BinaryIO) -> AsyncGenerator[bytes, None]:
    """A pipe, FIFO or terminal through the loop's pipe transport (which closes ``file``)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), file)
    try:
        while data := await reader.read(_READ_SIZE):
            yield data
    finally:
        transport.close()


# --- text ------------------------------------------------------------------------------------


async def _decode(
    chunks: AsyncIterator[bytes], name: str, encoding: str, chunk_chars: int
) -> AsyncGenerator[str, None]:
    """Decode bytes incrementally and cut the text into pieces of at most ``chunk_chars``."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0  # bytes fed to the decoder so far
    first = True
    async with contextlib.aclosing(_with_end(chunks)) as stream:
        async for data in stream:
            held = len(decoder.getstate()[0])
            try:
                text = decoder.decode(data, final=data == b"")
            except UnicodeDecodeError as exc:
                at = offset - held + exc.start
                bad = exc.object[exc.start : exc.start + 1].hex()
                raise ConfigurationError(
                    f"{name} is not valid {encoding} text: byte offset {at} (0x{bad}): "
                    f"{exc.reason}; pass the encoding the text is written in"
                ) from exc
            offset += len(data)
            if first and text:
                text = text.removeprefix("\ufeff")  # a byte order mark is not content
                first = False
            for start in range(0, len(text), chunk_chars):
                yield text[start : start + chunk_chars]


async def _with_end(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """The chunks, then ``b""`` to mark the end (the decoder's final call)."""
    try:
        async for data in chunks:
            if data:
                yield data
        yield b""
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
