"""Gateway layer: the ``/v1/speak`` conversation protocol's messages, parsed and built (pure).

Client to server (JSON text frames)::

    {"type": "start", "voice": "Joanna", "format": "pcm", "sample_rate": 16000,
     "language": "en-US", "text_mode": "clean", "pacing": 3.0}
    {"type": "text", "text": "Hello th", "flush": false}     # "type" may be left out
    {"type": "end"}                                          # end of the turn
    {"type": "interrupt"}                                    # barge-in

Server to client: binary frames of audio, and JSON events built by :func:`event`. A message
that cannot be understood becomes a :class:`ProtocolViolation` with an error type the client
can act on; the connection stays usable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEFAULT_PACING",
    "ERROR_TYPES",
    "End",
    "ErrorType",
    "Interrupt",
    "Message",
    "ProtocolViolation",
    "Start",
    "Text",
    "TextMode",
    "error_event",
    "event",
    "parse_message",
]

#: ``clean``: markdown cleaned and text cut into segments by the project's segmenter;
#: ``raw``: every text message is sent to Polly as it came.
TextMode = Literal["clean", "raw"]

ErrorType = Literal[
    "invalid_json",
    "invalid_message",
    "unknown_type",
    "binary_not_expected",
    "message_too_large",
    "text_too_long",
    "turn_too_long",
    "rate_limited",
    "too_many_turns",
    "not_started",
    "invalid_parameters",
    "speech_failed",
]
#: Every error type an ``error`` event may carry.
ERROR_TYPES: tuple[str, ...] = ErrorType.__args__  # type: ignore[attr-defined]


class ProtocolViolation(Exception):
    """A client message the gateway cannot act on; sent back as an ``error`` event."""

    def __init__(self, error: ErrorType, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


#: Seconds of audio a conversation's session keeps ahead of real-time playback by default.
DEFAULT_PACING = 3.0


@dataclass(frozen=True)
class Start:
    """Open (or reopen, between turns) the conversation's speech session.

    ``pacing``: seconds of speech kept ahead of real-time playback (the client plays as it
    listens, so more is waste on barge-in and load on everyone); None: as fast as Polly makes it.
    """

    voice: str = "Joanna"
    output_format: str = "pcm"
    sample_rate: int | None = None
    language: str | None = None
    text_mode: TextMode = "clean"
    pacing: float | None = DEFAULT_PACING


@dataclass(frozen=True)
class Text:
    """A piece of the turn's text, as the model wrote it."""

    text: str
    flush: bool = False


@dataclass(frozen=True)
class End:
    """The turn's text is complete."""


@dataclass(frozen=True)
class Interrupt:
    """Barge-in: stop the turn now."""


Message = Start | Text | End | Interrupt

_FIELDS = {
    "start": {"type", "voice", "format", "sample_rate", "language", "text_mode", "pacing"},
    "text": {"type", "text", "flush"},
    "end": {"type"},
    "interrupt": {"type"},
}


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = data.get(name)
    wrong_bool = isinstance(value, bool) is not (kind is bool)
    if value is not None and (wrong_bool or not isinstance(value, kind)):
        raise ProtocolViolation("invalid_message", f'"{name}" must be {what}, got {value!r}')
    return value


def parse_message(raw: str, *, max_text_chars: int) -> Message:
    """One client message from its JSON text.

    Raises:
        ProtocolViolation: not JSON, not an object, an unknown type or field, a wrong type.
    """
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolViolation("invalid_json", f"the message is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolViolation("invalid_message", "a message must be a JSON object")
    kind = data.get("type", "text" if "text" in data else None)
    if kind not in _FIELDS:
        known = ", ".join(_FIELDS)
        raise ProtocolViolation(
            "unknown_type", f"unknown message type {kind!r}; send one of: {known}"
        )
    unknown = sorted(set(data) - _FIELDS[kind])
    if unknown:
        raise ProtocolViolation(
            "invalid_message",
            f"unknown field(s) {', '.join(map(repr, unknown))} in a {kind!r} message; "
            f"allowed: {', '.join(sorted(_FIELDS[kind]))}",
        )
    if kind == "text":
        text = _field(data, "text", str, "a string")
        if text is None:
            raise ProtocolViolation("invalid_message", 'a text message needs "text" (a string)')
        if len(text) > max_text_chars:
            raise ProtocolViolation(
                "text_too_long",
                f"a text message holds at most {max_text_chars} characters, got {len(text)}; "
                "send the text in smaller pieces",
            )
        return Text(text, bool(_field(data, "flush", bool, "true or false")))
    if kind == "start":
        mode = data.get("text_mode", "clean")
        if mode not in ("clean", "raw"):
            raise ProtocolViolation(
                "invalid_message", f'"text_mode" must be "clean" or "raw", got {mode!r}'
            )
        pacing = data.get("pacing", DEFAULT_PACING)
        if pacing is not None and (
            isinstance(pacing, bool) or not isinstance(pacing, int | float) or pacing <= 0
        ):
            raise ProtocolViolation(
                "invalid_message", f'"pacing" must be seconds > 0 or null, got {pacing!r}'
            )
        return Start(
            pacing=None if pacing is None else float(pacing),
            voice=_field(data, "voice", str, "a Polly voice id") or "Joanna",
            output_format=_field(data, "format", str, "a Polly output format") or "pcm",
            sample_rate=_field(data, "sample_rate", int, "a whole number of Hz"),
            language=_field(data, "language", str, "a Polly language code"),
            text_mode=mode,
        )
    return End() if kind == "end" else Interrupt()


def event(kind: str, **fields: Any) -> str:
    """A server event as JSON text."""
    return json.dumps({"type": kind, **fields}, ensure_ascii=False)


def error_event(error: ErrorType, message: str, **fields: Any) -> str:
    """An ``error`` event: its ``error`` type, a message that says what to change."""
    return event("error", error=error, message=message, **fields)
