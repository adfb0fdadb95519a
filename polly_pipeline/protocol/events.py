"""Protocol layer: the typed input and output events of StartSpeechSynthesisStream.

Maps frozen event dataclasses to and from event-stream messages, on both sides of the wire:
the client encodes input events and decodes output ones, the local service does the reverse.
Service errors travel as ``:message-type=exception`` (modelled) or ``error`` (unmodelled).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from polly_pipeline.errors import (
    SERVICE_EXCEPTIONS,
    ProtocolError,
    ServiceException,
    UnmodeledServiceError,
    ValidationException,
    ValidationExceptionField,
)
from polly_pipeline.protocol.eventstream import Header, Message, encode_frame, encode_headers

__all__ = [
    "AudioEvent",
    "CloseStreamEvent",
    "InputEvent",
    "OutputEvent",
    "ServiceErrorEvent",
    "StreamClosedEvent",
    "TextEvent",
    "TextType",
    "UnknownEvent",
    "decode_input_event",
    "decode_output",
    "decode_output_message",
    "encode_exception",
    "encode_input_event",
    "encode_output_event",
    "exception_from_http_error",
]

TextType = Literal["text", "ssml"]
_TEXT_TYPES = ("text", "ssml")
_JSON = "application/json"
_INVALID = "invalidInboundEvent"


@dataclass(frozen=True, slots=True)
class TextEvent:
    """Text (or one whole SSML document) to synthesize; ``flush`` forces synthesis now."""

    text: str
    text_type: TextType = "text"
    flush: bool = False


@dataclass(frozen=True, slots=True)
class CloseStreamEvent:
    """No more text: the service returns the remaining audio, then a StreamClosedEvent."""


InputEvent: TypeAlias = TextEvent | CloseStreamEvent


@dataclass(frozen=True, slots=True)
class AudioEvent:
    """A chunk of synthesized audio in the requested output format."""

    audio_chunk: bytes

    def __repr__(self) -> str:
        return f"AudioEvent(audio_chunk=<{len(self.audio_chunk)} bytes>)"


@dataclass(frozen=True, slots=True)
class StreamClosedEvent:
    """The last output event: the characters billed for the whole stream."""

    request_characters: int


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An output event type this version does not know (kept for forward compatibility)."""

    event_type: str
    payload: bytes

    def __repr__(self) -> str:
        return f"UnknownEvent(event_type={self.event_type!r}, payload=<{len(self.payload)} bytes>)"


OutputEvent: TypeAlias = AudioEvent | StreamClosedEvent | UnknownEvent


@dataclass(frozen=True, slots=True)
class ServiceErrorEvent:
    """An error the service reported inside the stream (``exception`` or ``error`` message).

    The codec returns it as an event; whoever drives the stream decides to raise ``error``.
    """

    error: ServiceException


def _event_block(event_type: str, content_type: str) -> bytes:
    return encode_headers(
        (
            Header.string(":message-type", "event"),
            Header.string(":event-type", event_type),
            Header.string(":content-type", content_type),
        )
    )


# The header blocks are constant per event type: encode them once.
_TEXT_EVENT = _event_block("TextEvent", _JSON)
_CLOSE_STREAM_EVENT = encode_frame(_event_block("CloseStreamEvent", _JSON), b"{}")
_AUDIO_EVENT = _event_block("AudioEvent", "application/octet-stream")
_STREAM_CLOSED_EVENT = _event_block("StreamClosedEvent", _JSON)


def _dumps(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


#: JSON string literal, as json.dumps(..., ensure_ascii=False) writes it.
_json_string = json.encoder.encode_basestring
#: What follows the text in a TextEvent payload, by (text type, flush).
_TEXT_TAILS = {
    (text_type, flush): _dumps(
        {"TextType": text_type, **({"FlushStreamConfiguration": {"Force": True}} if flush else {})}
    ).decode()[1:]
    for text_type in _TEXT_TYPES
    for flush in (False, True)
}


# --- input events (client encodes, service decodes) ---------------------------------------


def encode_input_event(event: InputEvent) -> bytes:
    """The inner message for an input event (to be wrapped by the EventSigner).

    ``TextType`` is always sent, so the meaning never rests on the service's default;
    ``FlushStreamConfiguration`` only when ``flush`` is set.
    """
    if isinstance(event, CloseStreamEvent):
        return _CLOSE_STREAM_EVENT
    tail = _TEXT_TAILS.get((event.text_type, event.flush))
    if tail is None:
        raise ValueError(f"text_type must be 'text' or 'ssml', not {event.text_type!r}")
    # The same bytes as _dumps({"Text": ..., "TextType": ..., ["FlushStreamConfiguration"]}),
    # built without a dict and a JSON encoder per event (one TextEvent per token is common).
    body = f'{{"Text":{_json_string(event.text)},{tail}'
    return encode_frame(_TEXT_EVENT, body.encode("utf-8"))


def _invalid(message: str, field: str | None = None) -> ValidationException:
    fields = [ValidationExceptionField(field, message)] if field else []
    return ValidationException(message, reason=_INVALID, fields=fields)


def _json_object(payload: bytes) -> dict[str, Any] | None:
    """The payload parsed as a JSON object, or None if it is not one."""
    try:
        value = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def decode_input_event(message: Message) -> InputEvent:
    """Parse an inner input message; ValidationException(invalidInboundEvent) if it is bad."""
    message_type = message.get(":message-type")
    if message_type != "event":
        raise _invalid(f"expected ':message-type' 'event', got {message_type!r}")
    event_type = message.get(":event-type")
    if event_type not in ("TextEvent", "CloseStreamEvent"):
        raise _invalid(
            f"unknown input ':event-type' {event_type!r}; expected TextEvent or CloseStreamEvent"
        )
    body = _json_object(message.payload or b"{}")
    if body is None:
        raise _invalid(f"{event_type} payload is not a JSON object")
    if event_type == "CloseStreamEvent":
        return CloseStreamEvent()
    text = body.get("Text")
    if not isinstance(text, str):
        problem = "is missing" if text is None else f"must be a string, not {type(text).__name__}"
        raise _invalid(f"TextEvent Text {problem}", "Text")
    text_type: TextType = "text"
    raw_type = body.get("TextType")
    if raw_type == "ssml":
        text_type = "ssml"
    elif raw_type not in (None, "text"):
        raise _invalid(f"TextEvent TextType must be 'text' or 'ssml', not {raw_type!r}", "TextType")
    flush = False
    config = body.get("FlushStreamConfiguration")
    if config is not None:
        if not isinstance(config, dict):
            raise _invalid(
                "TextEvent FlushStreamConfiguration must be an object", "FlushStreamConfiguration"
            )
        force = config.get("Force")
        if force is not None and not isinstance(force, bool):
            raise _invalid(
                f"FlushStreamConfiguration Force must be a boolean, not {force!r}",
                "FlushStreamConfiguration.Force",
            )
        flush = force is True
    return TextEvent(text, text_type, flush)


# --- output events (service encodes, client decodes) --------------------------------------


def encode_output_event(event: AudioEvent | StreamClosedEvent) -> bytes:
    """The message for an output event."""
    if isinstance(event, AudioEvent):
        return encode_frame(_AUDIO_EVENT, event.audio_chunk)
    return encode_frame(
        _STREAM_CLOSED_EVENT, _dumps({"RequestCharacters": event.request_characters})
    )


def encode_exception(exc: ServiceException) -> bytes:
    """The in-stream message for a service error (``error`` frames for unmodelled ones)."""
    if isinstance(exc, UnmodeledServiceError):
        code = exc.code or exc.error_code
        message = exc.message
        return encode_frame(
            encode_headers(
                (
                    Header.string(":message-type", "error"),
                    Header.string(":error-code", code),
                    Header.string(":error-message", message),
                )
            )
        )
    headers = (
        Header.string(":message-type", "exception"),
        Header.string(":exception-type", exc.error_code),
        Header.string(":content-type", _JSON),
    )
    return encode_frame(encode_headers(headers), _dumps(exc.to_payload()))


def _string_header(message: Message, name: str) -> str | None:
    value = message.get(name)
    return value if isinstance(value, str) else None


def decode_output_message(message: Message) -> OutputEvent:
    """The output event a message carries; raises the ServiceException it reports, if any."""
    event = decode_output(message)
    if isinstance(event, ServiceErrorEvent):
        raise event.error
    return event


def decode_output(message: Message) -> OutputEvent | ServiceErrorEvent:
    """The output event a message carries, or the service error it reports as an event.

    Raises:
        ProtocolError: the message is not a well-formed output message.
    """
    message_type = _string_header(message, ":message-type")
    if message_type == "event":
        event_type = _string_header(message, ":event-type")
        if event_type == "AudioEvent":
            return AudioEvent(message.payload)
        if event_type == "StreamClosedEvent":
            body = _json_object(message.payload or b"{}")
            count = -1 if body is None else body.get("RequestCharacters")
            if count is None:  # absent or null
                count = 0
            if type(count) is not int or count < 0:
                raise ProtocolError(
                    f"StreamClosedEvent payload is not {{'RequestCharacters': <int>}}: "
                    f"{message.payload[:200]!r}"
                )
            return StreamClosedEvent(count)
        if event_type is None:
            raise ProtocolError("event message without a string ':event-type' header")
        return UnknownEvent(event_type, message.payload)
    if message_type == "exception":
        exception_type = _string_header(message, ":exception-type") or ""
        body = _json_object(message.payload)
        if body is None:  # not JSON: keep whatever text came as the message
            body = {"message": message.payload.decode("utf-8", "replace")}
        cls = SERVICE_EXCEPTIONS.get(exception_type)
        if cls is not None:
            return ServiceErrorEvent(cls.from_payload(body))
        text = body.get("message") or body.get("Message") or ""
        return ServiceErrorEvent(
            UnmodeledServiceError(str(text), code=exception_type or "UnknownException")
        )
    if message_type == "error":
        return ServiceErrorEvent(
            UnmodeledServiceError(
                _string_header(message, ":error-message") or "",
                code=_string_header(message, ":error-code") or "UnknownError",
            )
        )
    if message_type is None:
        raise ProtocolError("message without a string ':message-type' header")
    raise ProtocolError(f"unknown ':message-type' {message_type!r}")


def exception_from_http_error(
    status: int, headers: Sequence[tuple[str, str]], body: bytes
) -> ServiceException:
    """The ServiceException for an HTTP error answered before the event stream started."""
    document = _json_object(body)
    parsed = document or {}
    code = ""
    for name, value in headers:
        if name.lower() == "x-amzn-errortype":
            code = value.split(":", 1)[0].strip()
            break
    if not code:
        raw = parsed.get("__type") or parsed.get("code") or parsed.get("Code") or ""
        code = str(raw).rsplit("#", 1)[-1].split(":", 1)[0].strip()
    cls = SERVICE_EXCEPTIONS.get(code)
    if cls is not None:
        exc = cls.from_payload(parsed)
        exc.status = status
        return exc
    text = parsed.get("message") or parsed.get("Message")
    if text is None and document is None:  # not JSON: an HTML error page from a proxy, say
        text = body[:300].decode("utf-8", "replace").strip()
    return UnmodeledServiceError(str(text or f"HTTP {status}"), code=code, status=status)
