"""Testing layer: what the local Bedrock server answers, and the failures it can stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from polly_pipeline_bedrock.testing.wire import HTTP_ERROR_STATUS, STREAM_EXCEPTIONS

__all__ = ["BedrockFault", "FaultKind", "LocalBedrockConfig", "RecordedRequest"]

#: ``exception``: an in-stream exception frame after ``after_tokens`` text tokens;
#: ``http_error``: an error answer instead of the stream (``ThrottlingException`` unless
#: ``code`` says otherwise); ``drop``: the TCP connection is aborted after ``after_tokens``;
#: ``stall``: the stream goes silent after ``after_tokens`` (for read deadlines).
FaultKind = Literal["exception", "http_error", "drop", "stall"]


@dataclass(frozen=True)
class BedrockFault:
    """A failure staged for the next ``times`` ConverseStream requests.

    Attributes:
        kind: what goes wrong (see :data:`FaultKind`).
        after_tokens: text tokens streamed before it (stream faults).
        code: the exception type (``exception``: a ConverseStreamOutput member such as
            ``throttlingException``, default ``modelStreamErrorException``; ``http_error``: an
            error code such as ``ServiceUnavailableException``, default ``ThrottlingException``).
        message: the service's message (a realistic default otherwise).
        times: how many requests it applies to.
    """

    kind: FaultKind
    after_tokens: int = 0
    code: str = ""
    message: str = ""
    times: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("exception", "http_error", "drop", "stall"):
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.after_tokens < 0 or self.times < 1:
            raise ValueError("after_tokens must be >= 0 and times >= 1")
        if self.kind == "exception" and self.code and self.code not in STREAM_EXCEPTIONS:
            raise ValueError(
                f"{self.code!r} is not a ConverseStream exception; "
                f"expected one of {', '.join(sorted(STREAM_EXCEPTIONS))}"
            )
        if self.kind == "http_error" and self.code and self.code not in HTTP_ERROR_STATUS:
            raise ValueError(f"unknown error code {self.code!r}")


@dataclass
class LocalBedrockConfig:
    """The scripted model behind the local server (read afresh by every request).

    Attributes:
        answer: the text to stream; None picks the offline demo model's canned answer for
            the last user message (the reference answer by default).
        reasoning: reasoning text streamed as ``reasoningContent`` before the answer.
        tool_use: the name of a tool the model asks to call after its text (stop reason
            ``tool_use``).
        first_token_delay: seconds between the response headers and the first token.
        tokens_per_second: pace of the tokens after the first.
        models: model ids that exist (None accepts any).
        region: the region requests must be signed for.
        stall_seconds: how long a ``stall`` fault stays silent.
    """

    answer: str | None = None
    reasoning: str | None = None
    tool_use: str | None = None
    first_token_delay: float = 0.05
    tokens_per_second: float = 500.0
    models: frozenset[str] | None = None
    region: str = "us-east-1"
    stall_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.first_token_delay < 0 or self.tokens_per_second <= 0:
            raise ValueError("first_token_delay must be >= 0 and tokens_per_second > 0")


@dataclass
class RecordedRequest:
    """One ConverseStream request the server accepted, and how its answer went.

    Attributes:
        model_id: the model id from the path (URL-decoded).
        body: the request's JSON body.
        access_key: the signer's access key id, all but four characters masked.
        tokens_sent: answer text tokens streamed.
        outcome: ``streaming``, ``completed``, ``client_gone`` (the client closed early),
            ``exception:<type>``, ``http_error:<code>``, ``dropped`` or ``stalled``.
    """

    model_id: str
    body: dict[str, object]
    access_key: str
    tokens_sent: int = 0
    outcome: str = "streaming"
