"""Local service layer: errors answered at the HTTP level, as AWS's JSON protocols answer them.

An operation raises :class:`OperationError` (status, error type, JSON payload) before its
response starts; :func:`answers_errors` turns it into the response botocore and the SDKs parse
(``x-amzn-errortype`` and a JSON body).
"""

from __future__ import annotations

import contextlib
import functools
import json
from typing import Any

from polly_pipeline.errors import (
    FieldProblem,
    ServiceException,
    ValidationException,
    ValidationExceptionField,
)
from polly_pipeline.local.http import Handler, Request, RequestBody, Responder
from polly_pipeline.local.stream_record import new_request_id

__all__ = ["OperationError", "answers_errors", "auth_error", "field_errors", "send_json"]

_JSON = "application/x-amz-json-1.1"


class OperationError(Exception):
    """An error answered at the HTTP level (before any stream starts)."""

    def __init__(self, status: int, code: str, payload: dict[str, Any]) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.payload = payload

    @classmethod
    def of(cls, exc: ServiceException) -> OperationError:
        """The HTTP-level answer for a service exception."""
        return cls(exc.status or 400, exc.error_code, exc.to_payload())


def field_errors(problems: list[FieldProblem]) -> OperationError:
    """The HTTP-level ValidationException naming every rejected field."""
    return OperationError.of(
        ValidationException(
            "; ".join(f"{p.name}: {p.message}" for p in problems),
            reason="fieldValidationFailed",
            fields=[ValidationExceptionField(p.name, p.message) for p in problems],
        )
    )


def auth_error(message: str, code: str = "InvalidSignatureException") -> OperationError:
    """A 403 authentication failure."""
    return OperationError(403, code, {"message": message})


def answers_errors(operation: Handler) -> Handler:
    """``operation``, with an :class:`OperationError` it raises answered as JSON."""

    @functools.wraps(operation)
    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        try:
            await operation(request, body, responder)
        except OperationError as exc:
            if not responder.headers_sent:
                await send_json(responder, exc.status, exc.payload, error_type=exc.code)

    return handler


async def send_json(
    responder: Responder, status: int, payload: dict[str, Any], *, error_type: str | None = None
) -> None:
    """A complete JSON response (an AWS error when ``error_type`` is given)."""
    data = json.dumps(payload).encode()
    headers = [
        ("content-type", _JSON if error_type else "application/json"),
        ("content-length", str(len(data))),
        ("x-amzn-requestid", new_request_id()),
    ]
    if error_type:
        headers.append(("x-amzn-errortype", error_type))
    with contextlib.suppress(Exception):
        await responder.send_headers(status, headers)
        await responder.send_data(data)
        await responder.end()
