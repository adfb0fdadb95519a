"""Source layer: botocore and urllib3 failures translated into polly-pipeline errors.

Every message says what went wrong, where, and how much of the answer arrived first; none
carries a credential (botocore's messages name error codes and keys' ids at most).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore import exceptions as bx

from polly_pipeline.errors import ConfigurationError, LLMError, PollyPipelineError

__all__ = ["translate"]

#: In-stream exceptions (ConverseStreamOutput members) and what they mean for the user.
_STREAM_HINTS: Mapping[str, str] = {
    "modelStreamErrorException": "the model failed while streaming",
    "throttlingException": "throttled: too many tokens or requests; retry later",
    "validationException": "the model rejected the conversation",
    "serviceUnavailableException": "the service is unavailable; retry later",
    "internalServerException": "internal error in Bedrock; retry later",
}

#: HTTP-level error codes and what to do about them.
_HTTP_HINTS: Mapping[str, str] = {
    "AccessDeniedException": "these credentials may not invoke this model: check IAM "
    "permissions and model access in the Bedrock console",
    "ResourceNotFoundException": "check the model id and the region",
    "ValidationException": "check the model id, messages and options",
    "ThrottlingException": "rate limited; retry later",
    "ServiceQuotaExceededException": "a service quota is exceeded",
    "ModelNotReadyException": "the model is not ready yet; retry later",
    "ModelTimeoutException": "the model took too long",
    "ModelErrorException": "the model failed",
    "ServiceUnavailableException": "the service is unavailable; retry later",
    "InternalServerException": "internal error in Bedrock; retry later",
    "UnrecognizedClientException": "the access key id is not valid: check the AWS credentials",
    "InvalidSignatureException": "the request signature does not match: check the AWS secret "
    "access key (and the clock)",
    "IncompleteSignatureException": "the request signature is malformed",
    "MissingAuthenticationTokenException": "the request was not signed",
    "ExpiredTokenException": "the session token has expired: refresh the AWS credentials",
}


def translate(
    exc: BaseException, *, model_id: str, endpoint: str | None, chars: int, events: int
) -> PollyPipelineError:
    """The polly-pipeline error for a failure of one ConverseStream call."""
    where = f"Bedrock ({endpoint})" if endpoint else "Bedrock"
    after = f" after {chars} characters of the answer" if events else ""
    if isinstance(exc, bx.ParamValidationError):
        return ConfigurationError(f"invalid ConverseStream request: {exc}")
    if isinstance(exc, bx.NoRegionError):
        return ConfigurationError(
            "no AWS region for Bedrock: pass region= or set AWS_DEFAULT_REGION "
            "(or a profile's region)"
        )
    if isinstance(exc, bx.ProfileNotFound):
        return ConfigurationError(f"{exc}: check profile= or AWS_PROFILE")
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return LLMError(
            f"no usable AWS credentials for {where}: {exc} (configure them as for any AWS SDK: "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, SSO or an instance role)"
        )
    if isinstance(exc, bx.EventStreamError):
        code, message = _error_fields(exc.response)
        hint = _STREAM_HINTS.get(code, "the stream reported an error")
        return LLMError(
            f"{where} stopped the answer for {model_id}{after}: {code} ({hint}): {message}",
            chars_received=chars,
        )
    if isinstance(exc, bx.ClientError):
        code, message = _error_fields(exc.response)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        hint = _HTTP_HINTS.get(code, "the service failed" if (status or 0) >= 500 else "")
        hint = f" ({hint})" if hint else ""
        return LLMError(
            f"{where} answered HTTP {status} {code} for {model_id}{hint}: {message}",
            status=status if isinstance(status, int) else None,
            chars_received=chars,
        )
    if _is_timeout(exc):
        waiting = "for the next part of the answer" if events else "for the answer to start"
        return LLMError(
            f"{where} timed out{after} waiting {waiting} (read_timeout): {exc}",
            chars_received=chars,
        )
    if isinstance(exc, bx.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return LLMError(
            f"TLS verification of {where} failed: {exc} (pass ca_file= or set AWS_CA_BUNDLE "
            "if a proxy or a private endpoint uses its own CA)",
            chars_received=chars,
        )
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError)) and not events:
        return LLMError(f"could not reach {where}: {exc}", chars_received=chars)
    if events:
        return LLMError(
            f"the answer stream from {where} broke{after}: {exc!r}", chars_received=chars
        )
    return LLMError(f"the request to {where} failed: {exc!r}", chars_received=chars)


def _error_fields(response: Mapping[str, Any]) -> tuple[str, str]:
    error = response.get("Error") or {}
    return str(error.get("Code") or "UnknownError"), str(error.get("Message") or "")


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, (bx.ReadTimeoutError, TimeoutError)):
        return True
    name = type(exc).__name__
    return name in ("ReadTimeoutError", "TimeoutError") or "timed out" in str(exc)
