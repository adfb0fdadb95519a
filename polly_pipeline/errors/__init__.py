"""The one error tree of polly-pipeline (all layers).

Every error the package raises derives from :class:`PollyPipelineError`; exceptions from
lower libraries (awscrt, botocore, openai) are translated at the layer boundary and kept as
``__cause__``, never leaked raw::

    PollyPipelineError
    ├── ConfigurationError             bad options or environment; says what to change
    │   └── ParameterValidationError   synthesis parameters rejected before any network call
    ├── CredentialsError               no usable AWS credentials
    ├── StreamStateError               a call the stream's state does not allow (send after close)
    ├── StreamLimitError               a client's max_streams slots stayed taken past slot_timeout
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

from polly_pipeline.errors.base import (
    AudioDecodeError,
    ConfigurationError,
    CorruptFrameError,
    CredentialsError,
    FieldProblem,
    LLMError,
    OversizedFrameError,
    ParameterValidationError,
    PollyPipelineError,
    ProtocolError,
    ServerSideError,
    SessionError,
    SignatureError,
    StreamLimitError,
    StreamStateError,
    TruncatedFrameError,
)
from polly_pipeline.errors.service import (
    SERVICE_EXCEPTIONS as SERVICE_EXCEPTIONS,
)
from polly_pipeline.errors.service import (
    ServiceException,
    ServiceFailureException,
    ServiceQuotaExceededException,
    ThrottlingException,
    ThrottlingReason,
    UnmodeledServiceError,
    ValidationException,
    ValidationExceptionField,
)
from polly_pipeline.errors.transport import (
    CloseTimeout,
    ConnectError,
    ConnectionClosedError,
    ConnectTimeout,
    NetworkTimeout,
    ReadTimeout,
    ResponseHeadersTimeout,
    StreamResetError,
    TransportError,
    WriteTimeout,
)
from polly_pipeline.errors.transport import (
    Phase as Phase,
)
from polly_pipeline.errors.transport import (
    timeout_error as timeout_error,
)

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
    "StreamLimitError",
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
