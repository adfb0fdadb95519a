"""LiveKit bridge (a plugin, above every core layer): polly-pipeline errors as LiveKit API errors.

LiveKit's TTS machinery decides from the error's type and ``retryable`` flag whether a failed
synthesis is tried again (only while no audio was pushed) or handed to a ``FallbackAdapter``:

=====================================  ==============================================  =========
polly-pipeline error                   LiveKit error                                   retryable
=====================================  ==============================================  =========
``NetworkTimeout`` (any phase)         ``APITimeoutError``                             yes
``TransportError``                     ``APIConnectionError``                          yes
``SessionError`` (retries used up)     as its last error, else ``APIConnectionError``  as that
``ThrottlingException``                ``APIStatusError`` 429                          yes
``ServiceFailureException``            ``APIStatusError`` 500                          yes
``ValidationException``                ``APIStatusError`` 400                          no
``ServiceQuotaExceededException``      ``APIStatusError`` 402                          no
``UnmodeledServiceError``              ``APIStatusError`` with its status (else 500)   5xx only
``ConfigurationError``, credentials    ``APIError``                                    no
other polly-pipeline errors            ``APIError``                                    no
=====================================  ==============================================  =========

Polly sends throttling as HTTP 400; it is reported as 429 here because that is the status
LiveKit retries, and throttling is worth retrying. The original error is kept as
``__cause__``; credentials never appear in a message.
"""

from __future__ import annotations

from livekit.agents import APIConnectionError, APIError, APIStatusError, APITimeoutError

from polly_pipeline.errors import (
    NetworkTimeout,
    PollyPipelineError,
    ServiceException,
    SessionError,
    ThrottlingException,
    TransportError,
)

__all__ = ["to_api_error"]

#: The status LiveKit retries (see ``APIStatusError``), used for Polly's throttling.
_TOO_MANY_REQUESTS = 429


def to_api_error(exc: PollyPipelineError) -> APIError:
    """The LiveKit API error for ``exc`` (raise it ``from exc``).

    A :class:`SessionError` (the session's own retries used up) maps as the error that made
    its last attempt fail, so a turn that kept timing out is an ``APITimeoutError``.
    """
    message = f"Amazon Polly: {exc}"
    kind: BaseException = exc
    if isinstance(exc, SessionError) and isinstance(exc.__cause__, PollyPipelineError):
        kind = exc.__cause__
    if isinstance(kind, NetworkTimeout):
        return APITimeoutError(message)
    if isinstance(kind, TransportError | SessionError):
        return APIConnectionError(message)
    if isinstance(kind, ServiceException):
        status = _TOO_MANY_REQUESTS if isinstance(kind, ThrottlingException) else kind.status
        return APIStatusError(message, status_code=status if status is not None else 500)
    return APIError(message, retryable=False)  # configuration, credentials, protocol
