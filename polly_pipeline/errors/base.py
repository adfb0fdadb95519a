"""Errors (all layers): the base of the tree and the errors of configuration, state, protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AudioDecodeError",
    "ConfigurationError",
    "CorruptFrameError",
    "CredentialsError",
    "FieldProblem",
    "LLMError",
    "OversizedFrameError",
    "ParameterValidationError",
    "PollyPipelineError",
    "ProtocolError",
    "ServerSideError",
    "SessionError",
    "SignatureError",
    "StreamLimitError",
    "StreamStateError",
    "TruncatedFrameError",
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


class StreamLimitError(PollyPipelineError):
    """Every stream slot of a client (``PollyStreamingClient(max_streams=N)``) stayed taken.

    Raised when a stream waited ``slot_timeout`` seconds for one of the client's ``max_streams``
    slots (a session waits on, within ``RetryPolicy.max_throttle_wait``).
    """


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
