"""Typed events: exact wire form, round trips, botocore's Polly model parsers, error mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore.eventstream import EventStream
from botocore.exceptions import EventStreamError
from botocore.model import OperationModel, StructureShape
from botocore.parsers import EventStreamJSONParser, create_parser
from botocore.validate import ParamValidator
from hypothesis import given, settings
from hypothesis import strategies as st

from polly_pipeline.errors import (
    ProtocolError,
    ServiceException,
    ServiceFailureException,
    ServiceQuotaExceededException,
    ThrottlingException,
    ThrottlingReason,
    UnmodeledServiceError,
    ValidationException,
    ValidationExceptionField,
)
from polly_pipeline.protocol.events import (
    AudioEvent,
    CloseStreamEvent,
    InputEvent,
    StreamClosedEvent,
    TextEvent,
    UnknownEvent,
    decode_input_event,
    decode_output_message,
    encode_exception,
    encode_input_event,
    encode_output_event,
    exception_from_http_error,
)
from polly_pipeline.protocol.eventstream import Header, Message, decode_message, encode_message


@cache
def operation() -> OperationModel:
    model = botocore.session.get_session().get_service_model("polly")
    return model.operation_model("StartSpeechSynthesisStream")


def output_stream_shape() -> StructureShape:
    shape = operation().output_shape.members["EventStream"]
    assert isinstance(shape, StructureShape)
    return shape


def input_stream_shape() -> StructureShape:
    shape = operation().input_shape.members["ActionStream"]
    assert isinstance(shape, StructureShape)
    return shape


class _RawStream:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self) -> Iterator[bytes]:
        yield self._data


def botocore_events(wire: bytes, shape: StructureShape | None = None) -> list[dict[str, Any]]:
    """Parse frames the way a botocore client parses Polly's response event stream."""
    stream = EventStream(
        _RawStream(wire),
        shape or output_stream_shape(),
        EventStreamJSONParser(),
        "StartSpeechSynthesisStream",
    )
    return list(stream)


def headers_of(wire: bytes) -> dict[str, object]:
    return dict(decode_message(wire).header_map())


# --- input events ----------------------------------------------------------------------


def test_text_event_wire_form() -> None:
    message = decode_message(encode_input_event(TextEvent("Hello, wörld ✓ ")))
    assert message.headers == (
        Header.string(":message-type", "event"),
        Header.string(":event-type", "TextEvent"),
        Header.string(":content-type", "application/json"),
    )
    assert message.payload == '{"Text":"Hello, wörld ✓ ","TextType":"text"}'.encode()


def test_flush_and_ssml_wire_form() -> None:
    message = decode_message(encode_input_event(TextEvent("<speak>Hi</speak>", "ssml", True)))
    assert json.loads(message.payload) == {
        "Text": "<speak>Hi</speak>",
        "TextType": "ssml",
        "FlushStreamConfiguration": {"Force": True},
    }


def test_close_stream_event_wire_form() -> None:
    message = decode_message(encode_input_event(CloseStreamEvent()))
    assert message.get(":event-type") == "CloseStreamEvent"
    assert message.get(":message-type") == "event"
    assert message.payload == b"{}"


def test_text_event_rejects_unknown_text_type() -> None:
    with pytest.raises(ValueError, match="text_type"):
        encode_input_event(TextEvent("x", "html"))  # type: ignore[arg-type]


input_events = st.one_of(
    st.builds(
        TextEvent,
        st.text(max_size=200),
        st.sampled_from(["text", "ssml"]),
        st.booleans(),
    ),
    st.just(CloseStreamEvent()),
)


@given(input_events)
@settings(max_examples=200)
def test_input_events_round_trip_and_match_the_model(event: InputEvent) -> None:
    wire = encode_input_event(event)
    assert decode_input_event(decode_message(wire)) == event
    # botocore's event-stream parser, driven by the model's input stream shape, agrees
    [parsed] = botocore_events(wire, input_stream_shape())
    if isinstance(event, TextEvent):
        expected: dict[str, Any] = {"Text": event.text, "TextType": event.text_type}
        if event.flush:
            expected["FlushStreamConfiguration"] = {"Force": True}
        assert parsed == {"TextEvent": expected}
        report = ParamValidator().validate(expected, input_stream_shape().members["TextEvent"])
        assert not report.has_errors(), report.generate_report()
    else:
        assert parsed == {"CloseStreamEvent": {}}


def inner(event_type: str, payload: bytes, message_type: str = "event") -> Message:
    return decode_message(
        encode_message(
            [
                Header.string(":message-type", message_type),
                Header.string(":event-type", event_type),
                Header.string(":content-type", "application/json"),
            ],
            payload,
        )
    )


def test_decode_input_event_is_lenient_where_the_service_is() -> None:
    assert decode_input_event(inner("TextEvent", b'{"Text":"a","Extra":1}')) == TextEvent("a")
    assert decode_input_event(
        inner("TextEvent", b'{"Text":"a","TextType":null,"FlushStreamConfiguration":{}}')
    ) == TextEvent("a")
    assert decode_input_event(
        inner("TextEvent", b'{"Text":"a","FlushStreamConfiguration":{"Force":false}}')
    ) == TextEvent("a")
    assert decode_input_event(inner("CloseStreamEvent", b"")) == CloseStreamEvent()
    no_content_type = Message(
        (Header.string(":message-type", "event"), Header.string(":event-type", "TextEvent")),
        b'{"Text":""}',
    )
    assert decode_input_event(no_content_type) == TextEvent("")


@pytest.mark.parametrize(
    ("message", "match", "field"),
    [
        (inner("TextEvent", b'{"Text":"a"}', "exception"), "':message-type' 'event'", None),
        (Message((), b"{}"), "':message-type' 'event', got None", None),
        (inner("AudioEvent", b"{}"), "unknown input ':event-type' 'AudioEvent'", None),
        (inner("TextEvent", b'{"Text":'), "TextEvent payload is not a JSON object", None),
        (inner("TextEvent", b"[1]"), "TextEvent payload is not a JSON object", None),
        (inner("TextEvent", b"\xff"), "TextEvent payload is not a JSON object", None),
        (inner("CloseStreamEvent", b"nope"), "CloseStreamEvent payload is not a JSON", None),
        (inner("TextEvent", b"{}"), "TextEvent Text is missing", "Text"),
        (inner("TextEvent", b'{"Text":5}'), "Text must be a string, not int", "Text"),
        (
            inner("TextEvent", b'{"Text":"a","TextType":"html"}'),
            "TextType must be 'text' or 'ssml', not 'html'",
            "TextType",
        ),
        (
            inner("TextEvent", b'{"Text":"a","FlushStreamConfiguration":true}'),
            "FlushStreamConfiguration must be an object",
            "FlushStreamConfiguration",
        ),
        (
            inner("TextEvent", b'{"Text":"a","FlushStreamConfiguration":{"Force":"yes"}}'),
            "Force must be a boolean, not 'yes'",
            "FlushStreamConfiguration.Force",
        ),
    ],
)
def test_decode_input_event_rejects(message: Message, match: str, field: str | None) -> None:
    with pytest.raises(ValidationException, match=match) as info:
        decode_input_event(message)
    assert info.value.reason == "invalidInboundEvent"
    assert [f.name for f in info.value.fields] == ([field] if field else [])


# --- output events ---------------------------------------------------------------------


def test_audio_event_wire_form_and_botocore() -> None:
    chunk = bytes(range(256)) * 10
    wire = encode_output_event(AudioEvent(chunk))
    assert headers_of(wire) == {
        ":message-type": "event",
        ":event-type": "AudioEvent",
        ":content-type": "application/octet-stream",
    }
    assert decode_message(wire).payload == chunk
    assert botocore_events(wire) == [{"AudioEvent": {"AudioChunk": chunk}}]
    assert decode_output_message(decode_message(wire)) == AudioEvent(chunk)


def test_stream_closed_event_wire_form_and_botocore() -> None:
    wire = encode_output_event(StreamClosedEvent(1234))
    assert decode_message(wire).payload == b'{"RequestCharacters":1234}'
    assert headers_of(wire)[":content-type"] == "application/json"
    assert botocore_events(wire) == [{"StreamClosedEvent": {"RequestCharacters": 1234}}]
    assert decode_output_message(decode_message(wire)) == StreamClosedEvent(1234)


def test_output_event_reprs_hide_the_bytes() -> None:
    assert repr(AudioEvent(bytes(5000))) == "AudioEvent(audio_chunk=<5000 bytes>)"
    assert repr(UnknownEvent("X", b"abc")) == "UnknownEvent(event_type='X', payload=<3 bytes>)"


MODELLED = [
    ValidationException(
        "bad field",
        reason="fieldValidationFailed",
        fields=[ValidationExceptionField("VoiceId", "unknown voice")],
    ),
    ServiceQuotaExceededException(
        "idle", quota_code="input-stream-inbound-event-timeout", service_code="polly"
    ),
    ServiceFailureException("boom"),
    ThrottlingException(
        "slow down", throttling_reasons=[ThrottlingReason("TooManyRequests", "stream")]
    ),
]


@pytest.mark.parametrize("exc", MODELLED, ids=lambda e: type(e).__name__)
def test_modelled_exceptions_round_trip_and_match_botocore(exc: ServiceException) -> None:
    wire = encode_exception(exc)
    assert headers_of(wire) == {
        ":message-type": "exception",
        ":exception-type": exc.error_code,
        ":content-type": "application/json",
    }
    with pytest.raises(type(exc)) as info:
        decode_output_message(decode_message(wire))
    assert info.value.to_payload() == exc.to_payload()
    assert info.value.status == exc.http_status
    with pytest.raises(EventStreamError) as boto:
        botocore_events(wire)
    assert boto.value.response["Error"] == {"Code": exc.error_code, "Message": exc.message}


def test_unmodelled_errors_use_error_frames() -> None:
    wire = encode_exception(UnmodeledServiceError("it broke", code="InternalFailure"))
    assert headers_of(wire) == {
        ":message-type": "error",
        ":error-code": "InternalFailure",
        ":error-message": "it broke",
    }
    with pytest.raises(UnmodeledServiceError) as info:
        decode_output_message(decode_message(wire))
    assert info.value.code == "InternalFailure"
    assert str(info.value) == str(UnmodeledServiceError("it broke", code="InternalFailure"))
    with pytest.raises(EventStreamError) as boto:
        botocore_events(wire)
    assert boto.value.response["Error"] == {"Code": "InternalFailure", "Message": "it broke"}


def exception_frame(exception_type: str, payload: bytes) -> Message:
    return Message(
        (
            Header.string(":message-type", "exception"),
            Header.string(":exception-type", exception_type),
        ),
        payload,
    )


def test_unknown_and_sloppy_exception_frames() -> None:
    with pytest.raises(UnmodeledServiceError, match="nope") as info:
        decode_output_message(exception_frame("AccessDeniedException", b'{"Message":"nope"}'))
    assert info.value.code == "AccessDeniedException"
    with pytest.raises(ServiceFailureException, match="plain text"):
        decode_output_message(exception_frame("ServiceFailureException", b"plain text"))


def test_unknown_event_types_are_kept() -> None:
    message = inner("SpeechMarkEvent", b'{"x":1}')
    assert decode_output_message(message) == UnknownEvent("SpeechMarkEvent", b'{"x":1}')


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (Message((), b""), "without a string ':message-type'"),
        (Message((Header.int32(":message-type", 1),), b""), "without a string ':message-type'"),
        (inner("AudioEvent", b"", "gossip"), "unknown ':message-type' 'gossip'"),
        (Message((Header.string(":message-type", "event"),), b""), "':event-type'"),
        (inner("StreamClosedEvent", b"{"), "StreamClosedEvent payload"),
        (inner("StreamClosedEvent", b'{"RequestCharacters":"7"}'), "StreamClosedEvent payload"),
        (inner("StreamClosedEvent", b'{"RequestCharacters":-1}'), "StreamClosedEvent payload"),
        (inner("StreamClosedEvent", b'{"RequestCharacters":true}'), "StreamClosedEvent payload"),
    ],
)
def test_malformed_output_messages(message: Message, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        decode_output_message(message)


def test_stream_closed_event_without_a_count() -> None:
    assert decode_output_message(inner("StreamClosedEvent", b"{}")) == StreamClosedEvent(0)
    assert decode_output_message(inner("StreamClosedEvent", b"")) == StreamClosedEvent(0)


# --- HTTP errors before the stream ----------------------------------------------------------


def botocore_error_code(status: int, headers: dict[str, str], body: bytes) -> str:
    parser = create_parser("rest-json")
    parsed = parser.parse(
        {"status_code": status, "headers": headers, "body": body}, operation().output_shape
    )
    return str(parsed["Error"]["Code"])


VALIDATION_TYPE = "ValidationException:http://internal.amazon.com/coral/polly/"
VALIDATION_BODY = (
    b'{"message":"VoiceId is bad","reason":"fieldValidationFailed",'
    b'"fields":[{"name":"VoiceId","message":"unknown"}]}'
)
HTTP_ERRORS = [
    pytest.param(
        400,
        {"x-amzn-errortype": VALIDATION_TYPE},
        VALIDATION_BODY,
        ValidationException,
        id="errortype-header",
    ),
    pytest.param(
        400,
        {},
        b'{"__type":"com.amazonaws.polly#ThrottlingException","message":"slow"}',
        ThrottlingException,
        id="__type",
    ),
    pytest.param(
        402,
        {},
        b'{"code":"ServiceQuotaExceededException","message":"q","quotaCode":"input-stream-timeout"}',
        ServiceQuotaExceededException,
        id="code",
    ),
    pytest.param(
        403,
        {"x-amzn-errortype": "UnrecognizedClientException"},
        b'{"message":"The security token included in the request is invalid."}',
        UnmodeledServiceError,
        id="unmodelled",
    ),
]


@pytest.mark.parametrize(("status", "headers", "body", "cls"), HTTP_ERRORS)
def test_http_errors_map_like_botocore(
    status: int, headers: dict[str, str], body: bytes, cls: type[ServiceException]
) -> None:
    exc = exception_from_http_error(status, list(headers.items()), body)
    assert type(exc) is cls
    assert exc.status == status
    code = botocore_error_code(status, headers, body)
    assert (exc.code if isinstance(exc, UnmodeledServiceError) else exc.error_code) == code
    assert exc.message.endswith(json.loads(body)["message"])


def test_http_error_details_survive() -> None:
    exc = exception_from_http_error(400, [("X-Amzn-ErrorType", VALIDATION_TYPE)], VALIDATION_BODY)
    assert isinstance(exc, ValidationException)
    assert exc.reason == "fieldValidationFailed"
    assert exc.fields == (ValidationExceptionField("VoiceId", "unknown"),)


def test_http_error_without_a_code() -> None:
    exc = exception_from_http_error(502, [], b"<html>Bad Gateway</html>")
    assert isinstance(exc, UnmodeledServiceError)
    assert exc.status == 502
    assert "Bad Gateway" in str(exc)
    empty = exception_from_http_error(500, [("X-Amzn-ErrorType", "")], b"{}")
    assert isinstance(empty, UnmodeledServiceError)
    assert "HTTP 500" in str(empty)
