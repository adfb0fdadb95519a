"""Local service layer: event validation and fault injection on a stream, as the service does."""

from __future__ import annotations

import logging
from xml.etree import ElementTree

from polly_pipeline.errors import (
    ServiceFailureException,
    ThrottlingException,
    ThrottlingReason,
    ValidationException,
    ValidationExceptionField,
)
from polly_pipeline.local.config import Fault
from polly_pipeline.local.http import Responder

__all__ = ["StopStream", "apply_fault", "check_not_empty", "check_ssml"]

log = logging.getLogger("polly_pipeline.local")


class StopStream(Exception):
    """Ends the session quietly (fault injected, or the client went away)."""


def check_ssml(text: str) -> None:
    """An SSML event must hold one whole, well-formed <speak> document."""
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ValidationException(
            f"invalid SSML request: {exc}",
            reason="fieldValidationFailed",
            fields=[ValidationExceptionField("Text", "SSML must be one well-formed document")],
        ) from None
    if root.tag != "speak":
        raise ValidationException(
            "invalid SSML request: the root element must be <speak>",
            reason="fieldValidationFailed",
            fields=[ValidationExceptionField("Text", "root element must be <speak>")],
        )


def check_not_empty(text: str) -> None:
    """With ``reject_empty_text``: a TextEvent must carry at least one character.

    The message and field follow the service's constraint errors, so a client can tell this
    rejection (the ``Text`` field) from others.
    """
    if not text:
        raise ValidationException(
            "1 validation error detected: Value '' at 'textEvent.text' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1",
            reason="fieldValidationFailed",
            fields=[ValidationExceptionField("Text", "must not be empty")],
        )


async def apply_fault(fault: Fault, responder: Responder) -> None:
    """Carry out one fault on a stream; returns only by raising :class:`StopStream`."""
    log.info("injecting fault %s at %s", fault.kind, fault.at)
    if fault.kind == "reset":
        responder.reset()
    elif fault.kind == "goaway":
        responder.connection.goaway()
    elif fault.kind == "drop":
        responder.connection.drop()
    elif fault.kind == "stall":
        await responder.wait_closed()  # silent until the client gives up on the stream
    elif fault.kind == "throttle":
        raise ThrottlingException(
            "Rate exceeded",
            throttling_reasons=[ThrottlingReason("RequestRateExceeded", "polly")],
        )
    elif fault.kind == "service_failure":
        raise ServiceFailureException("an internal error occurred (injected fault)")
    raise StopStream
