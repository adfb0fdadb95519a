"""Testing layer: the bytes Amazon Bedrock's ConverseStream answers with (sans-IO).

A ConverseStream response body is an ``application/vnd.amazon.eventstream``: one message per
event of the ``ConverseStreamOutput`` union in botocore's service model. Events carry
``:event-type`` (the union member: ``messageStart``, ``contentBlockDelta``...),
``:content-type: application/json`` and ``:message-type: event``; in-stream errors carry
``:message-type: exception`` and ``:exception-type`` (``throttlingException``...) instead. The
payloads are the members' JSON, plus the ``p`` padding field the service adds to hide token
lengths (clients ignore unknown members).

HTTP-level errors are rest-json: the status of the error shape, an ``x-amzn-errortype`` header
and a ``{"message": ...}`` body.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from typing import Any

from polly_pipeline.protocol import Header, encode_message

__all__ = [
    "EVENTSTREAM_CONTENT_TYPE",
    "HTTP_ERROR_STATUS",
    "STREAM_EXCEPTIONS",
    "error_body",
    "event_frame",
    "exception_frame",
]

#: The response content type of ConverseStream.
EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"

#: The in-stream exceptions ConverseStreamOutput models, with the HTTP status of their shapes.
STREAM_EXCEPTIONS: Mapping[str, int] = {
    "internalServerException": 500,
    "modelStreamErrorException": 424,
    "validationException": 400,
    "throttlingException": 429,
    "serviceUnavailableException": 503,
}

#: HTTP statuses of the errors ConverseStream (and the AWS front door) answer with.
HTTP_ERROR_STATUS: Mapping[str, int] = {
    "AccessDeniedException": 403,
    "ThrottlingException": 429,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
    "ValidationException": 400,
    "ModelNotReadyException": 429,
    "ModelErrorException": 424,
    "ServiceQuotaExceededException": 400,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "ExpiredTokenException": 403,
    "SerializationException": 400,
    "UnknownOperationException": 404,
}

_PADDING = string.ascii_letters + string.digits


def _padding(length: int) -> str:
    return (_PADDING * (length // len(_PADDING) + 1))[: max(1, length)]


def _json(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_frame(event_type: str, payload: Mapping[str, Any], *, pad: int = 8) -> bytes:
    """One event message: ``event_type`` is a ConverseStreamOutput member name."""
    body = dict(payload)
    if pad:
        body["p"] = _padding(pad)
    headers = (
        Header.string(":event-type", event_type),
        Header.string(":content-type", "application/json"),
        Header.string(":message-type", "event"),
    )
    return encode_message(headers, _json(body))


def exception_frame(exception_type: str, message: str, **members: Any) -> bytes:
    """One in-stream exception message (``exception_type`` as in :data:`STREAM_EXCEPTIONS`)."""
    if exception_type not in STREAM_EXCEPTIONS:
        raise ValueError(
            f"unknown ConverseStream exception {exception_type!r}; "
            f"expected one of {', '.join(sorted(STREAM_EXCEPTIONS))}"
        )
    headers = (
        Header.string(":exception-type", exception_type),
        Header.string(":content-type", "application/json"),
        Header.string(":message-type", "exception"),
    )
    return encode_message(headers, _json({"message": message, **members}))


def error_body(message: str) -> bytes:
    """The JSON body of an HTTP-level error."""
    return _json({"message": message})
