"""The one error tree of polly-pipeline (all layers).

Every error the package raises derives from :class:`PollyPipelineError`; exceptions from
lower libraries (awscrt, botocore, openai) are translated at the layer boundary and kept as
``__cause__``, never leaked raw::

    PollyPipelineError
    ├── ConfigurationError             bad options or environment; says what to change
    │   └── ParameterValidationError   synthesis parameters rejected before any network call
    ├── CredentialsError               no usable AWS credentials
    ├── StreamStateError               a call the stream's state does not allow (send after close)
    ├── SessionError                   a speech session gave up after its retries
    ├── ProtocolError                  bytes on the wire that break the event-stream protocol
    │   ├── AudioDecodeError           audio bytes that are not valid audio of their format
    │   ├── TruncatedFrameError        input ended inside a frame
    │   ├── CorruptFrameError          CRC mismatch, bad lengths, unknown header type
    │   └── OversizedFrameError        a frame, header block, header value or payload over its limit
    ├── TransportError                 the connection failed us
    │   ├── ConnectError               could not connect (DNS, refused, TLS handshake, ALPN)
    │   ├── NetworkTimeout             a network wait passed its deadline (``phase`` says which)
    │   │   ├── ConnectTimeout         connect + TLS + the server's first SETTINGS
    │   │   ├── ResponseHeadersTimeout the response headers
    │   │   ├── ReadTimeout            the next response data / the next complete event
    │   │   ├── WriteTimeout           the connection accepting request data
    │   │   └── CloseTimeout           a polite close
    │   ├── StreamResetError           the peer reset the HTTP/2 stream (before or after headers)
    │   └── ConnectionClosedError      GOAWAY, or the connection dropped under an open stream
    ├── LLMError                       the language model's API failed (connection, status, cut)
    ├── ServiceException               an error the Polly service reported (HTTP or in-stream)
    │   ├── ValidationException
    │   ├── ServiceQuotaExceededException
    │   ├── ServiceFailureException
    │   ├── ThrottlingException
    │   └── UnmodeledServiceError      ``:message-type=error`` frames, unmodelled HTTP errors
    └── ServerSideError                raised inside the local service only, never to a client
        └── SignatureError             a request or event signature does not verify

A client catches one kind of wait with one ``except``: ``except ReadTimeout`` for a stalled
response, ``except NetworkTimeout`` for all of them. A non-2xx answer always becomes a
:class:`ServiceException` (an :class:`UnmodeledServiceError` with ``status`` when its body names
no modelled error). The local HTTP server's own errors (a closed stream, a body over its limit)
derive from :class:`ServerSideError` too.

The names of :class:`ServiceException` and its four modelled subclasses match the service's
exception shapes (and the ``amazon-polly-streaming`` package) so code written against either
reads the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "AudioDecodeError",
    "CloseTimeout",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosedError",
    "CorruptFrameError",
    "CredentialsError",
    "FieldProblem",
    "LLMError",
    "NetworkTimeout",
    "OversizedFrameError",
    "ParameterValidationError",
    "PollyPipelineError",
    "ProtocolError",
    "ReadTimeout",
    "ResponseHeadersTimeout",
    "ServerSideError",
    "ServiceException",
    "ServiceFailureException",
    "ServiceQuotaExceededException",
    "SessionError",
    "SignatureError",
    "StreamResetError",
    "StreamStateError",
    "ThrottlingException",
    "ThrottlingReason",
    "TransportError",
    "TruncatedFrameError",
    "UnmodeledServiceError",
    "ValidationException",
    "ValidationExceptionField",
    "WriteTimeout",
]


class PollyPipelineError(Exception):
    """Base class of every error raised by polly-pipeline."""


# --- configuration -----------------------------------------------------------------------


class ConfigurationError(PollyPipelineError):
    """An option, argument or environment setting is wrong; the message says what to change."""


@dataclass(frozen=True)
class FieldProblem:
    """One rejected parameter: its name, what is wrong, and what would be accepted."""

    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


class ParameterValidationError(ConfigurationError, ValueError):
    """Synthesis parameters failed validation against the Polly service model.

    All bad fields are reported at once, so one fix-and-retry round is enough.
    """

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems: tuple[FieldProblem, ...] = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid synthesis parameters ({len(self.problems)}):\n{lines}")


class CredentialsError(PollyPipelineError):
    """No usable AWS credentials were found, or they could not be loaded."""


class StreamStateError(PollyPipelineError, RuntimeError):
    """The call is not allowed in the stream's current state (e.g. sending after closing)."""


class SessionError(PollyPipelineError):
    """A speech session could not deliver a turn after its bounded retries.

    Attributes:
        attempts: how many streams were tried for the turn.
    """

    def __init__(self, message: str, *, attempts: int) -> None:
        self.attempts = attempts
        super().__init__(message)


# --- protocol ----------------------------------------------------------------------------


class ProtocolError(PollyPipelineError):
    """The bytes received break the event-stream protocol."""


class AudioDecodeError(ProtocolError):
    """Audio bytes that are not valid audio of their format (a player could not decode them)."""


class TruncatedFrameError(ProtocolError):
    """The input ended inside a frame."""


class CorruptFrameError(ProtocolError):
    """A frame failed a checksum or carried impossible lengths or header types."""


class OversizedFrameError(ProtocolError):
    """A frame or one of its parts is larger than the protocol allows."""


class ServerSideError(PollyPipelineError):
    """Raised inside the local service (or its HTTP server) only; a client never sees one."""


class SignatureError(ServerSideError):
    """A SigV4 request or event signature did not verify (checked by the local service)."""


# --- transport ---------------------------------------------------------------------------


class TransportError(PollyPipelineError):
    """The network connection failed; the request may be retried on a fresh stream."""


class ConnectError(TransportError):
    """The connection could not be established (DNS, refused, TLS handshake or ALPN)."""


#: The network waits that have a deadline (:class:`~polly_pipeline.transport.Timeouts`).
Phase = Literal["connect", "response_headers", "read", "write", "close"]


class NetworkTimeout(TransportError):
    """A network wait passed its deadline.

    Attributes:
        phase: which wait timed out.
        timeout: the deadline in seconds.
    """

    def __init__(self, phase: Phase, timeout: float, detail: str = "") -> None:
        self.phase = phase
        self.timeout = timeout
        what = {
            "connect": "connecting",
            "response_headers": "waiting for response headers",
            "read": "waiting for response data",
            "write": "sending request data",
            "close": "closing the stream",
        }[phase]
        msg = f"timed out after {timeout:g}s {what}"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class ConnectTimeout(NetworkTimeout):
    """Connecting (TCP, TLS, the server's first SETTINGS) passed its deadline."""

    def __init__(self, timeout: float, detail: str = "") -> None:
        super().__init__("connect", timeout, detail)


class ResponseHeadersTimeout(NetworkTimeout):
    """The response headers did not arrive within their deadline."""

    def __init__(self, timeout: float, detail: str = "") -> None:
        super().__init__("response_headers", timeout, detail)


class ReadTimeout(NetworkTimeout):
    """The next response data (or the next complete event) did not arrive in time."""

    def __init__(self, timeout: float, detail: str = "") -> None:
        super().__init__("read", timeout, detail)


class WriteTimeout(NetworkTimeout):
    """The connection did not accept request data within its deadline."""

    def __init__(self, timeout: float, detail: str = "") -> None:
        super().__init__("write", timeout, detail)


class CloseTimeout(NetworkTimeout):
    """A stream or connection did not close politely within its deadline."""

    def __init__(self, timeout: float, detail: str = "") -> None:
        super().__init__("close", timeout, detail)


_BY_PHASE: dict[str, Callable[[float, str], NetworkTimeout]] = {
    "connect": ConnectTimeout,
    "response_headers": ResponseHeadersTimeout,
    "read": ReadTimeout,
    "write": WriteTimeout,
    "close": CloseTimeout,
}


def timeout_error(phase: Phase, timeout: float, detail: str = "") -> NetworkTimeout:
    """The :class:`NetworkTimeout` subclass for ``phase``."""
    return _BY_PHASE[phase](timeout, detail)


class StreamResetError(TransportError):
    """The peer reset the HTTP/2 stream.

    Attributes:
        before_headers: True when no response headers had arrived yet.
    """

    def __init__(self, message: str, *, before_headers: bool) -> None:
        self.before_headers = before_headers
        super().__init__(message)


class ConnectionClosedError(TransportError):
    """The connection went away (GOAWAY or a drop) while a stream was open."""


# --- service -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationExceptionField:
    """A field named by a ValidationException."""

    name: str
    message: str


@dataclass(frozen=True)
class ThrottlingReason:
    """A reason given by a ThrottlingException."""

    reason: str
    resource: str


class ServiceException(PollyPipelineError):
    """Base class of errors reported by the Polly service (modelled or not).

    Attributes:
        message: the service's message.
        status: the HTTP status the error maps to (from the service model), if known.
    """

    error_code: str = "ServiceException"
    http_status: int | None = None

    def __init__(self, message: str = "", *, status: int | None = None) -> None:
        self.message = message
        self.status = status if status is not None else self.http_status
        super().__init__(f"{self.error_code}: {message}" if message else self.error_code)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ServiceException:
        """Build the exception from its JSON members (as the service sends them)."""
        return cls(str(payload.get("message") or payload.get("Message") or ""))

    def to_payload(self) -> dict[str, Any]:
        """The JSON members the service sends for this exception."""
        return {"message": self.message}


class ValidationException(ServiceException):
    """The input provided to Polly is invalid."""

    error_code = "ValidationException"
    http_status = 400

    def __init__(
        self,
        message: str = "",
        *,
        reason: str = "other",
        fields: Sequence[ValidationExceptionField] = (),
        status: int | None = None,
    ) -> None:
        self.reason = reason
        self.fields: tuple[ValidationExceptionField, ...] = tuple(fields)
        super().__init__(message, status=status)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ValidationException:
        fields = [
            ValidationExceptionField(str(f.get("name", "")), str(f.get("message", "")))
            for f in payload.get("fields") or ()
            if isinstance(f, Mapping)
        ]
        return cls(
            str(payload.get("message") or ""),
            reason=str(payload.get("reason") or "other"),
            fields=fields,
        )

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "reason": self.reason}
        if self.fields:
            out["fields"] = [{"name": f.name, "message": f.message} for f in self.fields]
        return out


class ServiceQuotaExceededException(ServiceException):
    """A Polly service quota was exceeded (for streams: the idle or duration limit)."""

    error_code = "ServiceQuotaExceededException"
    http_status = 402

    def __init__(
        self,
        message: str = "",
        *,
        quota_code: str = "",
        service_code: str = "polly",
        status: int | None = None,
    ) -> None:
        self.quota_code = quota_code
        self.service_code = service_code
        super().__init__(message, status=status)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ServiceQuotaExceededException:
        return cls(
            str(payload.get("message") or ""),
            quota_code=str(payload.get("quotaCode") or ""),
            service_code=str(payload.get("serviceCode") or ""),
        )

    def to_payload(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "quotaCode": self.quota_code,
            "serviceCode": self.service_code,
        }


class ServiceFailureException(ServiceException):
    """An unknown condition has caused a Polly service failure."""

    error_code = "ServiceFailureException"
    http_status = 500


class ThrottlingException(ServiceException):
    """The request to Polly was throttled by the service."""

    error_code = "ThrottlingException"
    http_status = 400

    def __init__(
        self,
        message: str = "",
        *,
        throttling_reasons: Sequence[ThrottlingReason] = (),
        status: int | None = None,
    ) -> None:
        self.throttling_reasons: tuple[ThrottlingReason, ...] = tuple(throttling_reasons)
        super().__init__(message, status=status)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ThrottlingException:
        reasons = [
            ThrottlingReason(str(r.get("reason", "")), str(r.get("resource", "")))
            for r in payload.get("throttlingReasons") or ()
            if isinstance(r, Mapping)
        ]
        return cls(str(payload.get("message") or ""), throttling_reasons=reasons)

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.throttling_reasons:
            out["throttlingReasons"] = [
                {"reason": r.reason, "resource": r.resource} for r in self.throttling_reasons
            ]
        return out


class UnmodeledServiceError(ServiceException):
    """An error frame (``:message-type=error``) or HTTP error the service model does not name."""

    error_code = "UnmodeledServiceError"

    def __init__(self, message: str = "", *, code: str = "", status: int | None = None) -> None:
        self.code = code
        if code:
            self.error_code = code  # shown in str(); the class attribute stays generic
        super().__init__(message, status=status)


#: The modelled service exceptions by their wire name (``:exception-type`` / ``x-amzn-errortype``).
SERVICE_EXCEPTIONS: Mapping[str, type[ServiceException]] = {
    cls.error_code: cls
    for cls in (
        ValidationException,
        ServiceQuotaExceededException,
        ServiceFailureException,
        ThrottlingException,
    )
}


# --- language models ---------------------------------------------------------------------


class LLMError(PollyPipelineError):
    """The language model's API failed: no connection, an HTTP error, or a stream cut short.

    Attributes:
        status: the HTTP status the API answered with, if any.
        chars_received: characters of answer text delivered before the failure.
    """

    def __init__(self, message: str, *, status: int | None = None, chars_received: int = 0) -> None:
        self.status = status
        self.chars_received = chars_received
        super().__init__(message)
