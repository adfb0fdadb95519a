"""Notebook plugin: :class:`NotebookSink`, speech played inline in Jupyter while it streams.

::

    sink = NotebookSink()
    report = await Pipeline(session, on_progress=sink.on_progress).run(tokens, sink)

The first chunk displays a small Web Audio player; every chunk is then pushed to it by
updating one display output in place (see :mod:`polly_pipeline_notebook.player`), so the
answer is heard as it is synthesized. At close the player is replaced by an ``<audio
controls>`` element with the whole answer as WAV, which can be replayed and is kept when the
notebook is saved.

``pcm`` audio is played as it is. Other formats need the shared incremental decoder
``polly_pipeline.sinks.StreamDecoder``; without it they raise
:class:`~polly_pipeline.errors.ConfigurationError` naming ``output_format="pcm"``.
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any, Protocol

from polly_pipeline.audio import AudioChunk, AudioFormat, wav_bytes
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.pipeline import PipelineReport
from polly_pipeline.sinks import BaseSink
from polly_pipeline_notebook.player import (
    Bundle,
    answer_bundle,
    chunk_bundle,
    control_bundle,
    player_bundle,
    publish,
)

__all__ = ["NotebookSink"]


class _Decoder(Protocol):
    """The shape of ``polly_pipeline.sinks.StreamDecoder``: encoded bytes in, PCM out."""

    def feed(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _PcmDecoder:
    """16-bit PCM passes through; an odd trailing byte waits for the next chunk."""

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        data = self._carry + data
        whole = len(data) - len(data) % 2
        self._carry = data[whole:]
        return data[:whole]

    def flush(self) -> bytes:
        self._carry = b""  # half a sample is not audio
        return b""


def _decoder_for(fmt: AudioFormat) -> tuple[_Decoder, int]:
    """A decoder to 16-bit mono PCM for ``fmt``, and the PCM's sample rate."""
    if fmt.output_format == "pcm":
        return _PcmDecoder(), fmt.sample_rate
    sinks = importlib.import_module("polly_pipeline.sinks")
    factory = getattr(sinks, "StreamDecoder", None)
    if factory is None:
        raise ConfigurationError(
            f"NotebookSink plays pcm audio; {fmt.output_format} needs "
            "polly_pipeline.sinks.StreamDecoder, which this polly-pipeline does not have: "
            'speak with output_format="pcm"'
        )
    decoder: _Decoder = factory(fmt)
    return decoder, int(getattr(decoder, "sample_rate", fmt.sample_rate))


class NotebookSink(BaseSink):
    """Plays audio inline in a Jupyter notebook as it arrives, then leaves an ``<audio>``.

    Args:
        title: the label shown on the player and on the final recording.
        autoplay: start playing at once (browsers may still require a click first, in which
            case the player says so); False waits for the play button.

    Pass :meth:`on_progress` as the pipeline's ``on_progress`` to stamp each pushed chunk
    with the run's elapsed time and whether the source (the LLM) had finished by then.
    """

    def __init__(self, *, title: str = "Spoken answer", autoplay: bool = True) -> None:
        super().__init__()
        self.title = title
        self.autoplay = autoplay
        self.player_id = uuid.uuid4().hex
        self._decoder: _Decoder | None = None
        self._sample_rate = 0
        self._pcm = bytearray()
        self._pushes = 0
        self._chunks = 0
        self._report: PipelineReport | None = None
        self._interrupted = False

    @property
    def player_display_id(self) -> str:
        """The display id of the player (later the recording)."""
        return f"polly-player-{self.player_id}"

    @property
    def push_display_id(self) -> str:
        """The display id of the output that carries chunks to the player."""
        return f"polly-push-{self.player_id}"

    @property
    def pcm(self) -> bytes:
        """All audio received so far, as 16-bit mono PCM."""
        return bytes(self._pcm)

    @property
    def sample_rate(self) -> int:
        """The sample rate of :attr:`pcm` (0 before the first chunk)."""
        return self._sample_rate

    @property
    def seconds(self) -> float:
        """How much audio was received."""
        return len(self._pcm) // 2 / self._sample_rate if self._sample_rate else 0.0

    def on_progress(self, report: PipelineReport) -> None:
        """Follow a pipeline run (pass as ``Pipeline(..., on_progress=sink.on_progress)``)."""
        self._report = report

    async def interrupt(self) -> None:
        """Stop playback at once (a short fade) and drop what the player has queued."""
        if self._pushes and not self._interrupted:
            self._interrupted = True
            self._show(control_bundle(self.player_id, "stop", text="stopped"), push=True)

    async def _write(self, chunk: AudioChunk) -> None:
        self._chunks += 1
        if self._decoder is None:
            self._decoder, self._sample_rate = _decoder_for(chunk.format)
        self._push(self._decoder.feed(chunk.data))

    async def _close(self) -> None:
        if self._decoder is not None:
            self._push(self._decoder.flush())
        if not self._pushes:
            return
        if not self._interrupted:
            self._show(control_bundle(self.player_id, "end", text="audio complete"), push=True)
        fmt = self.format
        details = (
            f"{fmt.output_format} {fmt.sample_rate} Hz, {self._chunks} chunks"
            if fmt is not None
            else f"{self._chunks} chunks"
        )
        self._show(
            answer_bundle(
                self.player_id,
                title=self.title,
                wav=wav_bytes(bytes(self._pcm), self._sample_rate),
                seconds=self.seconds,
                details=details,
            ),
            push=False,
        )

    def _push(self, pcm: bytes) -> None:
        if not pcm:
            return
        if not self._pushes:
            self._show(
                player_bundle(self.player_id, title=self.title, autoplay=self.autoplay),
                push=False,
                new=True,
            )
        self._pcm += pcm
        report = self._report
        extra: dict[str, Any] = {
            "received_seconds": self.seconds,
            "elapsed": None if report is None else report.elapsed(),
            "source_done": None if report is None else report.source_finished_after is not None,
        }
        bundle = chunk_bundle(
            self.player_id,
            seq=self._pushes,
            pcm=pcm,
            sample_rate=self._sample_rate,
            received_seconds=self.seconds,
            extra=extra,
        )
        self._show(bundle, push=True, new=self._pushes == 0)
        self._pushes += 1

    def _show(self, bundle: Bundle, *, push: bool, new: bool = False) -> None:
        display_id = self.push_display_id if push else self.player_display_id
        publish(bundle, display_id=display_id, update=not new)
