"""Browser sink plugin: the messages between the sink and its page, and what the page reports.

Sink to page, over the WebSocket:

- binary frames, one per audio chunk: a 16-byte header (little-endian uint32 sequence, turn,
  sample rate, flags) then 16-bit little-endian mono PCM samples;
- JSON text: ``config`` (scheduling lead, fade), ``sync`` (clock probe), ``turn`` (a new turn
  begins), ``interrupt`` (fade out and stop) and ``end`` (no more audio).

Page to sink, JSON text, each stamped with the page's clocks (``performance.now()``,
``Date.now()``, ``AudioContext.currentTime``): ``hello``, ``sync`` (the probe's echo),
``scheduled`` (a chunk was put on the AudioContext clock), ``dropped`` (a chunk of an
interrupted turn was not played), ``interrupted``, ``end_ack`` and ``ended`` (playback done).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = [
    "FLAG_TAIL",
    "HEADER",
    "ClientInfo",
    "PageMessage",
    "PlaybackEvent",
    "PlaybackKind",
    "encode_chunk",
    "encode_control",
    "parse_page_message",
]

#: The header of an audio frame: sequence, turn, sample rate, flags.
HEADER = struct.Struct("<IIII")
#: Flag: the frame holds what a decoder flushed at the end of a turn, not a chunk of its own.
FLAG_TAIL = 1

#: What a page reports about its playback.
PlaybackKind = Literal["scheduled", "dropped", "interrupted", "end_ack", "ended"]
_PLAYBACK_KINDS = frozenset(get_args(PlaybackKind))


def encode_chunk(
    sequence: int, turn: int, sample_rate: int, pcm: bytes, *, tail: bool = False
) -> bytes:
    """One audio frame for the page."""
    return HEADER.pack(sequence, turn, sample_rate, FLAG_TAIL if tail else 0) + pcm


def encode_control(kind: str, **fields: object) -> str:
    """One JSON control message for the page."""
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


@dataclass(frozen=True)
class ClientInfo:
    """A page that connected to the sink.

    Attributes:
        client: the sink's number for the page (1, 2, ... in connection order).
        user_agent: the browser's ``navigator.userAgent``.
        sample_rate: the AudioContext's output sample rate.
        output_latency: the AudioContext's reported output latency in seconds (0 if unknown).
        autoplay: whether the page started without a click (``?autoplay=1``).
        connected_at: when it said hello, on the sink's ``time.monotonic()`` clock.
    """

    client: int
    user_agent: str
    sample_rate: float
    output_latency: float
    autoplay: bool
    connected_at: float


@dataclass(frozen=True)
class PlaybackEvent:
    """What one page did with the audio, as it reported it.

    Times ending in ``_time`` are the page's own; ``monotonic`` and ``starts_at`` are the same
    moments converted to the sink's ``time.monotonic()`` clock (synchronised when the page
    connects), so they compare directly with a :class:`~polly_pipeline.pipeline.PipelineReport`.

    Attributes:
        kind: ``scheduled``, ``dropped``, ``interrupted``, ``end_ack`` or ``ended``.
        client: which page (see :class:`ClientInfo`).
        turn: the turn the event belongs to.
        sequence: the chunk's sequence number (``scheduled`` and ``dropped``).
        start: the AudioContext time the chunk starts at (``scheduled``); when the audio is
            silent (``interrupted``); when the last scheduled chunk ends (``end_ack``).
        duration: seconds of audio scheduled (``scheduled``).
        remaining: seconds still to play when the end of the stream reached the page
            (``end_ack``).
        underrun: the chunk came after the previous one had finished playing (a gap).
        tail: the frame held a decoder's final output rather than a chunk of its own.
        context_time: ``AudioContext.currentTime`` when the page reported.
        page_time: ``performance.now()`` in seconds when the page reported.
        wall_time: ``Date.now()`` in seconds since the epoch when the page reported.
        monotonic: ``page_time`` on the sink's monotonic clock.
        starts_at: for ``scheduled``, when the chunk is due to be heard, on the sink's clock.
    """

    kind: PlaybackKind
    client: int
    turn: int
    sequence: int | None
    start: float | None
    duration: float
    remaining: float
    underrun: bool
    tail: bool
    context_time: float | None
    page_time: float
    wall_time: float
    monotonic: float
    starts_at: float | None


@dataclass(frozen=True)
class PageMessage:
    """A report from a page, checked and typed (before clock conversion)."""

    type: str
    fields: dict[str, Any]
    page_time: float
    wall_time: float
    context_time: float | None

    def number(self, name: str, default: float | None = None) -> float | None:
        """A numeric field, or ``default`` when absent or not a number."""
        value = self.fields.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return default
        return float(value)

    def to_event(self, client: int, offset: float) -> PlaybackEvent | None:
        """The playback event this message reports; ``offset`` maps page time to the sink's."""
        if self.type not in _PLAYBACK_KINDS:
            return None
        turn = self.number("turn")
        sequence = self.number("sequence")
        start = self.number("start")
        starts_at_perf = self.number("starts_at_perf")
        return PlaybackEvent(
            kind=self.type,  # type: ignore[arg-type]  # checked against PlaybackKind above
            client=client,
            turn=int(turn) if turn is not None else -1,
            sequence=int(sequence) if sequence is not None else None,
            start=start,
            duration=self.number("duration", 0.0) or 0.0,
            remaining=self.number("remaining", 0.0) or 0.0,
            underrun=self.fields.get("underrun") is True,
            tail=self.fields.get("tail") is True,
            context_time=self.context_time,
            page_time=self.page_time,
            wall_time=self.wall_time,
            monotonic=self.page_time - offset,
            starts_at=starts_at_perf / 1000 - offset if starts_at_perf is not None else None,
        )


def parse_page_message(raw: str | bytes) -> PageMessage | None:
    """A page's report, or None when it is not one (not JSON, no type or no clocks)."""
    if isinstance(raw, bytes):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    perf, epoch, ctx_time = data.get("perf"), data.get("epoch"), data.get("ctx_time")
    if not isinstance(perf, int | float) or not isinstance(epoch, int | float):
        return None
    return PageMessage(
        type=data["type"],
        fields=data,
        page_time=float(perf) / 1000,
        wall_time=float(epoch) / 1000,
        context_time=float(ctx_time) if isinstance(ctx_time, int | float) else None,
    )
