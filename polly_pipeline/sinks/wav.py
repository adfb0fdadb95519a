"""Pipeline layer: a WAV file sink that is a valid file after every chunk.

The header goes out with the first chunk; after each chunk the RIFF, ``fact`` and ``data``
sizes are patched in place and the file is flushed, so if the process dies (or the task is
cancelled) mid-answer, what is on disk is a valid WAV file of the audio so far. Writes are
synchronous: chunks are a few kilobytes, and a write that cannot be interrupted halfway is
what keeps the file consistent under cancellation.

pcm becomes 16-bit PCM (format tag 1); mulaw and alaw stay 8-bit G.711 (tags 7 and 6, with
the ``fact`` chunk such files need). Compressed formats belong in a
:class:`~polly_pipeline.sinks.files.RawFileSink`.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from polly_pipeline.audio import FORMATS, AudioChunk, AudioFormat
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.sinks.base import BaseSink, check_writable

__all__ = ["WAV_FORMATS", "WavFileSink"]

log = logging.getLogger(__name__)

#: Output formats a WAV file can hold: (format tag, bits per sample).
WAV_FORMATS: Mapping[str, tuple[int, int]] = {
    name: (info.wav_tag, 8 * info.bytes_per_sample)
    for name, info in FORMATS.items()
    if info.wav_tag is not None and info.bytes_per_sample is not None
}

_MAX_DATA = 0xFFFF_FFFF - 64  # the RIFF size field is 32 bits


class WavFileSink(BaseSink):
    """Writes pcm, mulaw or alaw audio to a WAV file, valid after every chunk.

    Args:
        path: the file to write; created (or replaced) when the first chunk arrives, so no
            file appears if no audio does.
        overwrite: replace an existing file (else a ConfigurationError, at once).

    Raises:
        ConfigurationError: (at once) the path cannot be written; (on the first chunk) the
            audio is not pcm, mulaw or alaw.
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> None:
        super().__init__()
        self.path = Path(path)
        check_writable(self.path, overwrite=overwrite)
        self._file: BinaryIO | None = None
        self._header_size = 0
        self._fact_at: int | None = None
        self._data_bytes = 0
        self._block = 1
        self._partial = b""  # the first byte of a 16-bit sample split across chunks

    def __repr__(self) -> str:
        return f"<WavFileSink {self.path} data={self._data_bytes} bytes>"

    @property
    def data_bytes(self) -> int:
        """Audio bytes in the file so far."""
        return self._data_bytes

    async def _write(self, chunk: AudioChunk) -> None:
        if self._file is None:
            self._start(chunk.format)
        assert self._file is not None
        data = self._partial + chunk.data
        whole = len(data) - len(data) % self._block
        data, self._partial = data[:whole], data[whole:]
        if not data:
            return
        if self._data_bytes + len(data) > _MAX_DATA:
            raise ConfigurationError(
                f"{self.path}: a WAV file holds at most 4 GiB of audio; use a RawFileSink"
            )
        try:
            self._file.write(data)
            self._file.flush()  # the audio first: the sizes never claim bytes not yet written
            self._data_bytes += len(data)
            self._patch_sizes(self._file)
        except OSError as exc:
            raise ConfigurationError(f"cannot write audio to {self.path}: {exc}") from exc

    async def _close(self) -> None:
        file, self._file = self._file, None
        if file is None:
            return
        if self._partial:
            log.debug("%s: dropping half a 16-bit sample at the end", self.path)
        try:
            if self._data_bytes % 2:
                file.seek(0, os.SEEK_END)
                file.write(b"\0")  # RIFF chunks are padded to an even size
            self._patch_sizes(file)
        except OSError as exc:
            raise ConfigurationError(f"cannot finish the WAV file {self.path}: {exc}") from exc
        finally:
            file.close()

    def _start(self, fmt: AudioFormat) -> None:
        if fmt.output_format not in WAV_FORMATS:
            raise ConfigurationError(
                f"a WAV file holds pcm, mulaw or alaw audio, not {fmt.output_format}: "
                f"synthesize with output_format='pcm', or write {fmt.output_format} to "
                f"{self.path.with_suffix(_suffix(fmt.output_format))} with a RawFileSink"
            )
        header, self._fact_at = _header(fmt)
        self._header_size = len(header)
        self._block = WAV_FORMATS[fmt.output_format][1] // 8
        try:
            file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise ConfigurationError(f"cannot write audio to {self.path}: {exc}") from exc
        try:
            file.write(header)
            file.flush()
        except OSError as exc:
            file.close()
            raise ConfigurationError(f"cannot write audio to {self.path}: {exc}") from exc
        self._file = file

    def _patch_sizes(self, file: BinaryIO) -> None:
        end = file.seek(0, os.SEEK_END)
        file.seek(4)
        file.write(struct.pack("<I", end - 8))
        if self._fact_at is not None:
            file.seek(self._fact_at)
            file.write(struct.pack("<I", self._data_bytes // self._block))
        file.seek(self._header_size - 4)
        file.write(struct.pack("<I", self._data_bytes))
        file.seek(0, os.SEEK_END)
        file.flush()


def _header(fmt: AudioFormat) -> tuple[bytes, int | None]:
    """The header of an empty WAV file of this format, and where its ``fact`` count is."""
    tag, bits = WAV_FORMATS[fmt.output_format]
    block = bits // 8
    fmt_body = struct.pack("<HHIIHH", tag, 1, fmt.sample_rate, fmt.sample_rate * block, block, bits)
    chunks = [b"fmt ", struct.pack("<I", len(fmt_body)), fmt_body]
    fact_at = None
    if tag != 1:  # non-PCM formats: an 18-byte fmt chunk (cbSize = 0) and a fact chunk
        fmt_body += struct.pack("<H", 0)
        chunks = [
            b"fmt ",
            struct.pack("<I", len(fmt_body)),
            fmt_body,
            b"fact",
            struct.pack("<I", 4),
        ]
        fact_at = 12 + sum(map(len, chunks))
        chunks.append(struct.pack("<I", 0))
    chunks += [b"data", struct.pack("<I", 0)]
    body = b"".join(chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body, fact_at


def _suffix(output_format: str) -> str:
    info = FORMATS.get(output_format)
    return ".raw" if info is None else info.extension
