"""Errors (all layers): the errors the Polly service reports, by their wire names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from polly_pipeline.errors.base import PollyPipelineError

__all__ = [
    "SERVICE_EXCEPTIONS",
    "ServiceException",
    "ServiceFailureException",
    "ServiceQuotaExceededException",
    "ThrottlingException",
    "ThrottlingReason",
    "UnmodeledServiceError",
    "ValidationException",
    "ValidationExceptionField",
]


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
