"""polly-pipeline: speak a streaming LLM answer while it is still being written.

Layers, top to bottom: cli, pipeline, session, client (``PollyStreamingClient``), transport
(awscrt HTTP/2), protocol (sans-IO event-stream codec and signing); ``local`` is the embedded
Polly service. Every error derives from :class:`PollyPipelineError` (see ``errors``).
"""

from polly_pipeline.client import (
    PollyStreamingClient,
    SpeechSynthesisStream,
    SpeechSynthesisStreamHandler,
    StreamStats,
)
from polly_pipeline.errors import (
    AudioDecodeError,
    ConfigurationError,
    ConnectError,
    ConnectionClosedError,
    CredentialsError,
    LLMError,
    NetworkTimeout,
    ParameterValidationError,
    PollyPipelineError,
    ProtocolError,
    ServiceException,
    ServiceFailureException,
    ServiceQuotaExceededException,
    SessionError,
    StreamLimitError,
    StreamResetError,
    StreamStateError,
    ThrottlingException,
    TransportError,
    UnmodeledServiceError,
    ValidationException,
)
from polly_pipeline.pipeline import FlushPolicy, Pipeline, PipelineReport
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.events import (
    AudioEvent,
    CloseStreamEvent,
    StreamClosedEvent,
    TextEvent,
    UnknownEvent,
)
from polly_pipeline.session import (
    AudioChunk,
    AudioFormat,
    InterruptReport,
    RetryPolicy,
    SpeechSession,
    Turn,
    TurnMetrics,
)
from polly_pipeline.transport import Timeouts

__version__ = "0.1.0"

__all__ = [
    "AudioChunk",
    "AudioDecodeError",
    "AudioEvent",
    "AudioFormat",
    "CloseStreamEvent",
    "ConfigurationError",
    "ConnectError",
    "ConnectionClosedError",
    "Credentials",
    "CredentialsError",
    "FlushPolicy",
    "InterruptReport",
    "LLMError",
    "NetworkTimeout",
    "ParameterValidationError",
    "Pipeline",
    "PipelineReport",
    "PollyPipelineError",
    "PollyStreamingClient",
    "ProtocolError",
    "RetryPolicy",
    "ServiceException",
    "ServiceFailureException",
    "ServiceQuotaExceededException",
    "SessionError",
    "SpeechSession",
    "SpeechSynthesisStream",
    "SpeechSynthesisStreamHandler",
    "StreamClosedEvent",
    "StreamLimitError",
    "StreamResetError",
    "StreamStateError",
    "StreamStats",
    "TextEvent",
    "ThrottlingException",
    "Timeouts",
    "TransportError",
    "Turn",
    "TurnMetrics",
    "UnknownEvent",
    "UnmodeledServiceError",
    "ValidationException",
    "__version__",
]
