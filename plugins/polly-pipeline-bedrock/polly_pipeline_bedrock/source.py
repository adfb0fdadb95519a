"""Source layer: the text of an Amazon Bedrock ConverseStream answer, delta by delta.

:func:`bedrock_converse_source` calls ``bedrock-runtime`` ``ConverseStream`` through botocore
(its credentials chain, endpoints, retries and service model) and yields the answer's text as
it arrives. What is yielded and what is not:

- ``contentBlockDelta`` text, in order; nothing else is spoken.
- Reasoning (``reasoningContent``) and tool-use input are counted
  (:attr:`ConverseStreamResult.reasoning_chars`, :attr:`ConverseStreamResult.tool_uses`) and
  logged at INFO, never yielded.
- ``messageStop``'s stop reason is kept; ``max_tokens`` and the content filters are logged as
  warnings (the answer is cut short, but what came is valid).
- ``metadata`` (token usage, latency) is kept in :attr:`BedrockConverseSource.result` and
  passed to ``on_metadata`` if given.

Every failure (no credentials, a rejected signature, an HTTP error such as 403, 404 or 429, an
in-stream exception, a broken connection, a read past its deadline or a stream that ends
without a stop reason) raises :class:`~polly_pipeline.errors.LLMError` chained to the botocore
exception; the text that arrived before it has been yielded. Bad arguments raise
:class:`~polly_pipeline.errors.ConfigurationError` at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from polly_pipeline.errors import ConfigurationError, LLMError
from polly_pipeline.sources import StreamingTextSource
from polly_pipeline_bedrock._errors import translate
from polly_pipeline_bedrock._reader import StreamReader

__all__ = [
    "BedrockConverseSource",
    "BedrockUsage",
    "ConverseStreamResult",
    "bedrock_converse_source",
]

log = logging.getLogger("polly_pipeline_bedrock")

#: How long closing a source waits for its reader thread to end.
CLOSE_TIMEOUT = 5.0
_RESERVED = frozenset({"modelId", "messages", "system", "inferenceConfig"})
_ROLES = frozenset({"user", "assistant"})
_CUT_SHORT = {
    "max_tokens": "the token limit (maxTokens)",
    "model_context_window_exceeded": "the model's context window",
    "guardrail_intervened": "a guardrail",
    "content_filtered": "a content filter",
    "malformed_model_output": "malformed model output",
    "malformed_tool_use": "a malformed tool call",
}


@dataclass(frozen=True)
class BedrockUsage:
    """Token counts from the stream's ``metadata`` event."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None


@dataclass(frozen=True)
class ConverseStreamResult:
    """What happened in one ConverseStream answer.

    Attributes:
        model_id: the model asked.
        request_id: the service's request id (``x-amzn-requestid``).
        stop_reason: why the model stopped (``end_turn``, ``max_tokens``, ``tool_use``...).
        text_chars: characters of text yielded.
        events: stream events received.
        reasoning_chars: characters of reasoning text received (not spoken).
        tool_uses: names of the tools the model asked to call (not spoken).
        usage: token counts, from the ``metadata`` event.
        latency_ms: the service's latency figure, from the ``metadata`` event.
    """

    model_id: str
    request_id: str | None
    stop_reason: str | None
    text_chars: int
    events: int
    reasoning_chars: int = 0
    tool_uses: tuple[str, ...] = ()
    usage: BedrockUsage | None = None
    latency_ms: int | None = None


@dataclass
class _Tally:
    model_id: str
    request_id: str | None = None
    stop_reason: str | None = None
    text_chars: int = 0
    events: int = 0
    reasoning_chars: int = 0
    tools: dict[int, str] = field(default_factory=dict)
    usage: BedrockUsage | None = None
    latency_ms: int | None = None

    def result(self) -> ConverseStreamResult:
        return ConverseStreamResult(
            model_id=self.model_id,
            request_id=self.request_id,
            stop_reason=self.stop_reason,
            text_chars=self.text_chars,
            events=self.events,
            reasoning_chars=self.reasoning_chars,
            tool_uses=tuple(self.tools[i] for i in sorted(self.tools)),
            usage=self.usage,
            latency_ms=self.latency_ms,
        )


class BedrockConverseSource(StreamingTextSource[ConverseStreamResult]):
    """An async iterator of text deltas; :attr:`result` says what happened once it is done.

    Use it with ``async for``; if you stop early, ``aclose()`` (or ``async with``) stops the
    reader thread and closes the HTTP response. Cancelling the consumer does the same.
    """

    _tally: _Tally

    def __init__(
        self,
        model_id: str,
        request: Mapping[str, Any],
        open_client: Callable[[], tuple[Any, bool]],
        on_metadata: Callable[[ConverseStreamResult], None] | None,
        region: str | None,
    ) -> None:
        self._model_id = model_id
        self._request = request
        self._open_client = open_client
        self._on_metadata = on_metadata
        self._region = region
        self._endpoint: str | None = None
        super().__init__(_Tally(model_id))

    def __repr__(self) -> str:
        where = f" region={self._region}" if self._region else ""
        state = "done" if self._done else f"{self._tally.text_chars} chars"
        return f"<BedrockConverseSource model={self._model_id!r}{where} {state}>"

    async def _run(self) -> AsyncGenerator[str, None]:
        reader = StreamReader(self._open_client, self._request)
        reader.start()
        try:
            while True:
                kind, value = await reader.queue.get()
                if kind == "event":
                    assert isinstance(value, Mapping)
                    text = self._take(value)
                    if text:
                        yield text
                elif kind == "response":
                    assert isinstance(value, Mapping)
                    self._tally.request_id = value.get("RequestId")
                elif kind == "error":
                    assert isinstance(value, BaseException)
                    raise translate(
                        value,
                        model_id=self._model_id,
                        endpoint=reader.endpoint_url,
                        chars=self._tally.text_chars,
                        events=self._tally.events,
                    ) from value
                else:
                    break
        finally:
            await reader.stop(CLOSE_TIMEOUT)
        tally = self._tally
        if tally.stop_reason is None:
            raise LLMError(
                f"the Bedrock stream for {self._model_id} ended without a stop reason after "
                f"{tally.text_chars} characters: the answer may be cut short",
                chars_received=tally.text_chars,
            )
        self._finish()
        self._log_end()

    def _take(self, event: Mapping[str, Any]) -> str:
        """Account for one event; the text it carries."""
        tally = self._tally
        tally.events += 1
        if "contentBlockDelta" in event:
            body = event["contentBlockDelta"]
            delta = body.get("delta") or {}
            text = delta.get("text")
            if "reasoningContent" in delta:
                tally.reasoning_chars += len(delta["reasoningContent"].get("text") or "")
            if "toolUse" in delta:
                tally.tools.setdefault(int(body.get("contentBlockIndex", -1)), "")
            if text:
                tally.text_chars += len(text)
                return str(text)
        elif "contentBlockStart" in event:
            body = event["contentBlockStart"]
            tool = (body.get("start") or {}).get("toolUse")
            if tool is not None:
                tally.tools[int(body.get("contentBlockIndex", -1))] = str(tool.get("name", ""))
        elif "messageStop" in event:
            tally.stop_reason = str(event["messageStop"].get("stopReason"))
        elif "metadata" in event:
            self._take_metadata(event["metadata"])
        return ""

    def _take_metadata(self, metadata: Mapping[str, Any]) -> None:
        tally = self._tally
        usage = metadata.get("usage")
        if usage:
            tally.usage = BedrockUsage(
                input_tokens=int(usage.get("inputTokens", 0)),
                output_tokens=int(usage.get("outputTokens", 0)),
                total_tokens=int(usage.get("totalTokens", 0)),
                cache_read_input_tokens=usage.get("cacheReadInputTokens"),
                cache_write_input_tokens=usage.get("cacheWriteInputTokens"),
            )
        latency = (metadata.get("metrics") or {}).get("latencyMs")
        tally.latency_ms = int(latency) if latency is not None else None
        if self._on_metadata is not None:
            self._on_metadata(tally.result())

    def _log_end(self) -> None:
        tally = self._tally
        if tally.reasoning_chars:
            log.info(
                "the model reasoned for %d characters before answering; reasoning is not spoken",
                tally.reasoning_chars,
            )
        if tally.tools:
            names = ", ".join(name or "?" for _, name in sorted(tally.tools.items()))
            log.info(
                "the model asked for %d tool call(s) (%s); they are not spoken",
                len(tally.tools),
                names,
            )
        cut = _CUT_SHORT.get(tally.stop_reason or "")
        if cut:
            log.warning(
                "the Bedrock answer was cut short by %s (stopReason=%s)", cut, tally.stop_reason
            )


def bedrock_converse_source(
    model_id: str,
    messages: Sequence[Mapping[str, Any]] | str | None = None,
    *,
    prompt: str | None = None,
    system: str | Sequence[Mapping[str, Any]] | None = None,
    inference_config: Mapping[str, Any] | None = None,
    client: Any = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    read_timeout: float = 60.0,
    connect_timeout: float = 10.0,
    max_attempts: int = 3,
    on_metadata: Callable[[ConverseStreamResult], None] | None = None,
    **converse_kwargs: Any,
) -> BedrockConverseSource:
    """Stream a Bedrock ConverseStream answer and yield its text deltas (see the module doc).

    Args:
        model_id: a model id, inference profile id or ARN
            (``anthropic.claude-3-haiku-20240307-v1:0``, ``us.amazon.nova-lite-v1:0``...).
        messages: the conversation, Bedrock-style (``{"role": "user", "content": [{"text":
            "..."}]}``); a plain string ``content`` is accepted too. A ``str`` is a prompt.
        prompt: a single user message (instead of ``messages``).
        system: a system prompt, or Bedrock ``SystemContentBlock`` mappings.
        inference_config: ``inferenceConfig`` (``maxTokens``, ``temperature``, ``topP``,
            ``stopSequences``).
        client: a botocore (or boto3) ``bedrock-runtime`` client to use; it is not closed.
            Without one, a client is made per call from ``region``, ``profile``,
            ``endpoint_url`` and ``ca_file`` and botocore's credentials chain.
        region: the AWS region (default: botocore's: ``AWS_DEFAULT_REGION`` or the profile's).
        profile: the AWS profile (default: ``AWS_PROFILE`` or the default profile).
        endpoint_url: another endpoint (a VPC endpoint, a proxy, a local server); botocore
            also reads ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``.
        ca_file: CA bundle to verify TLS with (botocore also reads ``AWS_CA_BUNDLE``).
        read_timeout: deadline in seconds for every read, the first token included.
        connect_timeout: deadline in seconds to connect.
        max_attempts: botocore's attempts for the request (retries happen only before the
            stream starts; 1 disables them).
        on_metadata: called with the result so far when the ``metadata`` event (usage,
            latency) arrives.
        converse_kwargs: other ConverseStream members as they are (``toolConfig``,
            ``guardrailConfig``, ``additionalModelRequestFields``...).

    Raises:
        ConfigurationError: the arguments are wrong (also, when iteration starts, botocore's
            own parameter validation, an unknown profile or a missing region).
    """
    if not isinstance(model_id, str) or not model_id.strip():
        raise ConfigurationError("bedrock_converse_source needs a model_id (a non-empty string)")
    if isinstance(messages, str):
        if prompt is not None:
            raise ConfigurationError("pass either messages or prompt, not both")
        messages, prompt = None, messages
    if (messages is None) == (prompt is None):
        raise ConfigurationError("bedrock_converse_source needs either messages or prompt")
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigurationError("prompt must be a non-empty string")
        conversation = [{"role": "user", "content": [{"text": prompt}]}]
    else:
        conversation = _messages(messages)
    reserved = sorted(_RESERVED & set(converse_kwargs))
    if reserved:
        raise ConfigurationError(
            f"pass {', '.join(reserved)} through the named arguments of bedrock_converse_source "
            "(model_id, messages/prompt, system, inference_config)"
        )
    request: dict[str, Any] = {**converse_kwargs, "modelId": model_id, "messages": conversation}
    if system is not None:
        request["system"] = _system(system)
    if inference_config is not None:
        if not isinstance(inference_config, Mapping):
            raise ConfigurationError(
                "inference_config must be a mapping such as {'maxTokens': 512}"
            )
        request["inferenceConfig"] = dict(inference_config)
    for name, value in (("read_timeout", read_timeout), ("connect_timeout", connect_timeout)):
        if not isinstance(value, (int, float)) or value <= 0:
            raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    if not isinstance(max_attempts, int) or max_attempts < 1:
        raise ConfigurationError(f"max_attempts must be at least 1, got {max_attempts!r}")
    if client is not None:
        given = [
            n
            for n, v in (
                ("region", region),
                ("profile", profile),
                ("endpoint_url", endpoint_url),
                ("ca_file", ca_file),
            )
            if v
        ]
        if given:
            raise ConfigurationError(
                f"pass either client= or {', '.join(given)} (the client already has its own)"
            )
        _check_client(client)
        region = getattr(client.meta, "region_name", None)
    elif ca_file is not None and not os.path.isfile(ca_file):
        raise ConfigurationError(f"ca_file {os.fspath(ca_file)!r} does not exist")

    def open_client() -> tuple[Any, bool]:
        if client is not None:
            return client, False
        made = _make_client(
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            ca_file=ca_file,
            read_timeout=read_timeout,
            connect_timeout=connect_timeout,
            max_attempts=max_attempts,
        )
        return made, True

    return BedrockConverseSource(model_id, request, open_client, on_metadata, region)


# --- arguments -------------------------------------------------------------------------------


def _messages(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, Mapping) or not isinstance(messages, Sequence) or not messages:
        raise ConfigurationError(
            "messages must be a non-empty list of {'role': ..., 'content': ...} mappings"
        )
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ConfigurationError(
                f"messages[{i}] must be a mapping, not {type(message).__name__}"
            )
        role = message.get("role")
        if role == "system":
            raise ConfigurationError(
                f"messages[{i}] has role 'system': Bedrock takes the system prompt as system="
            )
        if role not in _ROLES:
            raise ConfigurationError(
                f"messages[{i}].role must be 'user' or 'assistant', got {role!r}"
            )
        content = message.get("content")
        if isinstance(content, str):
            if not content:
                raise ConfigurationError(f"messages[{i}].content is empty")
            content = [{"text": content}]
        elif not isinstance(content, Sequence) or not content:
            raise ConfigurationError(
                f"messages[{i}].content must be text or a non-empty list of content blocks"
            )
        out.append({**message, "content": [dict(block) for block in content]})
    if out[0]["role"] != "user":
        raise ConfigurationError("the conversation must start with a user message")
    return out


def _system(system: str | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(system, str):
        if not system.strip():
            raise ConfigurationError("system must not be empty")
        return [{"text": system}]
    blocks = [block for block in system if isinstance(block, Mapping)]
    if not blocks or len(blocks) != len(system):
        raise ConfigurationError("system must be a string or a list of SystemContentBlock mappings")
    return [dict(block) for block in blocks]


def _check_client(client: Any) -> None:
    meta = getattr(client, "meta", None)
    service = getattr(getattr(meta, "service_model", None), "service_name", None)
    if service != "bedrock-runtime" or not hasattr(client, "converse_stream"):
        raise ConfigurationError(
            "client must be a botocore or boto3 'bedrock-runtime' client, not "
            f"{service or type(client).__name__!r}"
        )


def _make_client(
    *,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    ca_file: str | os.PathLike[str] | None,
    read_timeout: float,
    connect_timeout: float,
    max_attempts: int,
) -> Any:
    """A fresh ``bedrock-runtime`` client (on the reader thread: it reads files)."""
    from botocore.config import Config  # noqa: PLC0415
    from botocore.session import Session  # noqa: PLC0415

    config = Config(
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        user_agent_extra="polly-pipeline-bedrock",
    )
    return Session(profile=profile).create_client(
        "bedrock-runtime",
        region_name=region,
        endpoint_url=endpoint_url,
        verify=os.fspath(ca_file) if ca_file is not None else None,
        config=config,
    )
