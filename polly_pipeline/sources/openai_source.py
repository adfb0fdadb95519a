"""Pipeline layer: the text of a streamed OpenAI chat completion, delta by delta.

:func:`openai_chat_source` runs ``client.chat.completions.create(..., stream=True)`` and yields
the answer's text as it arrives; any OpenAI-compatible server works. What is yielded:

- ``delta.content`` text, in order; empty and ``None`` deltas, role-only chunks and chunks
  without choices (the usage chunk) yield nothing.
- ``delta.refusal`` text, too: a refusal is the model's answer to the user, and a voice
  assistant that went silent instead would look broken. :attr:`ChatStreamResult.refusal`
  tells refusals apart.
- Tool calls are not text: they are counted (:attr:`ChatStreamResult.tool_calls`) and logged
  at INFO. Only choice 0 is read when a request asks for several.

``finish_reason`` ``length`` or ``content_filter`` is logged as a warning (the answer is cut
short, but what came is valid). Every failure (no connection, a timeout, an HTTP error such
as 401, 404 or 429, an error event or a stream that breaks or ends without a finish reason)
raises :class:`~polly_pipeline.errors.LLMError` chained to the ``openai`` exception; the text
that arrived before it has been yielded.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polly_pipeline.errors import ConfigurationError, LLMError
from polly_pipeline.sources.base import StreamingTextSource

try:
    import openai
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "openai_chat_source needs the openai package (a dependency of polly-pipeline): "
        "pip install openai"
    ) from exc

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionChunk

__all__ = ["ChatStreamResult", "OpenAIChatSource", "TokenUsage", "openai_chat_source"]

log = logging.getLogger(__name__)

_STATUS_HINTS: Mapping[int, str] = {
    400: "the request was rejected; check the messages and options",
    401: "check the API key",
    403: "the API key may not use this model or endpoint",
    404: "check the model name and the base URL",
    408: "the server timed out",
    409: "a conflicting request is in flight",
    422: "the request could not be processed",
    429: "rate limited or out of quota; retry later",
}


@dataclass(frozen=True)
class TokenUsage:
    """Token counts the API reported (``stream_options={"include_usage": True}``)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class ChatStreamResult:
    """What happened in one streamed chat completion.

    Attributes:
        model: the model the API says answered.
        response_id: the completion's id.
        finish_reason: why the model stopped (``stop``, ``length``, ``tool_calls``...).
        text_chars: characters of text yielded (content and refusal).
        chunks: chunks received.
        tool_calls: names of the tools the model asked to call (not spoken).
        refusal: the refusal text, if the model refused.
        usage: token counts, when the API sent them.
    """

    model: str | None
    response_id: str | None
    finish_reason: str | None
    text_chars: int
    chunks: int
    tool_calls: tuple[str, ...] = ()
    refusal: str | None = None
    usage: TokenUsage | None = None


@dataclass
class _Tally:
    """The running state behind a ChatStreamResult."""

    model: str | None = None
    response_id: str | None = None
    finish_reason: str | None = None
    text_chars: int = 0
    chunks: int = 0
    tools: dict[int, str] = field(default_factory=dict)
    refusal: list[str] = field(default_factory=list)
    usage: TokenUsage | None = None

    def result(self) -> ChatStreamResult:
        return ChatStreamResult(
            model=self.model,
            response_id=self.response_id,
            finish_reason=self.finish_reason,
            text_chars=self.text_chars,
            chunks=self.chunks,
            tool_calls=tuple(self.tools[i] for i in sorted(self.tools)),
            refusal="".join(self.refusal) if self.refusal else None,
            usage=self.usage,
        )


class OpenAIChatSource(StreamingTextSource[ChatStreamResult]):
    """An async iterator of text deltas; :attr:`result` says what happened once it is done.

    Use it with ``async for`` (and ``aclose()`` or ``async with`` if you stop early: that
    closes the HTTP response).
    """

    _tally: _Tally

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        create_kwargs: Mapping[str, Any],
    ) -> None:
        self._client = client
        self._request: dict[str, Any] = {**create_kwargs, "model": model, "messages": messages}
        super().__init__(_Tally())

    async def _run(self) -> AsyncGenerator[str, None]:
        try:
            stream = await self._client.chat.completions.create(**self._request, stream=True)
        except openai.OpenAIError as exc:
            raise _translate(exc, self._client, self._tally) from exc
        try:
            while True:
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    break
                except (openai.OpenAIError, ValueError) as exc:
                    raise _translate(exc, self._client, self._tally) from exc
                for text in self._take(chunk):
                    yield text
        finally:
            await stream.close()
        tally = self._tally
        if tally.finish_reason is None:
            raise LLMError(
                f"the LLM stream ended without a finish reason after {tally.text_chars} "
                "characters: the answer may be cut short",
                chars_received=tally.text_chars,
            )
        self._finish()
        self._log_end()

    def _take(self, chunk: ChatCompletionChunk) -> list[str]:
        """Account for one chunk; the text it carries (at most content and refusal)."""
        tally = self._tally
        tally.chunks += 1
        tally.model = chunk.model or tally.model
        tally.response_id = chunk.id or tally.response_id
        usage = chunk.usage
        if usage is not None:
            tally.usage = TokenUsage(
                usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
            )
        out: list[str] = []
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta.content:
                out.append(delta.content)
            if delta.refusal:
                tally.refusal.append(delta.refusal)
                out.append(delta.refusal)
            for call in delta.tool_calls or ():
                name = call.function.name if call.function is not None else None
                if name or call.index not in tally.tools:
                    tally.tools[call.index] = name or ""
            if delta.function_call is not None and delta.function_call.name:
                tally.tools.setdefault(-1, delta.function_call.name)
            if choice.finish_reason is not None:
                tally.finish_reason = choice.finish_reason
        tally.text_chars += sum(len(text) for text in out)
        return out

    def _log_end(self) -> None:
        tally = self._tally
        if tally.tools:
            names = ", ".join(name or "?" for _, name in sorted(tally.tools.items()))
            log.info(
                "the LLM asked for %d tool call(s) (%s); they are not spoken",
                len(tally.tools),
                names,
            )
        if tally.refusal:
            log.info("the LLM refused; its refusal is spoken")
        if tally.finish_reason == "length":
            log.warning("the LLM answer was cut short at the token limit (finish_reason=length)")
        elif tally.finish_reason == "content_filter":
            log.warning("the LLM answer was cut short by a content filter")


def openai_chat_source(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    **create_kwargs: Any,
) -> OpenAIChatSource:
    """Stream a chat completion and yield its text deltas (see the module docstring).

    ``create_kwargs`` go to ``client.chat.completions.create`` as they are (``temperature``,
    ``tools``, ``max_tokens``, ``stream_options``...); ``stream`` is always True.
    """
    if "stream" in create_kwargs:
        raise ConfigurationError("openai_chat_source always streams: do not pass stream=")
    if not messages:
        raise ConfigurationError("openai_chat_source needs at least one message")
    return OpenAIChatSource(client, model, messages, create_kwargs)


def _translate(exc: Exception, client: openai.AsyncOpenAI, tally: _Tally) -> LLMError:
    """An LLMError that says what went wrong, where, and how much text came first."""
    where = str(client.base_url).rstrip("/")
    got = tally.text_chars
    after = f" after {got} characters of the answer" if tally.chunks else ""
    if isinstance(exc, openai.APITimeoutError):
        message = f"the LLM at {where} timed out{after}"
        return LLMError(message, chars_received=got)
    if isinstance(exc, openai.APIConnectionError):
        what = (
            f"the LLM stream from {where} broke"
            if tally.chunks
            else f"could not reach the LLM at {where}"
        )
        cause = exc.__cause__ or exc.__context__
        detail = f": {cause!r}" if cause is not None else f": {exc.message}"
        return LLMError(f"{what}{after}{detail}", chars_received=got)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        hint = _STATUS_HINTS.get(status, "the server failed" if status >= 500 else "")
        hint = f" ({hint})" if hint else ""
        return LLMError(
            f"the LLM at {where} answered HTTP {status}{hint}: {_error_text(exc)}",
            status=status,
            chars_received=got,
        )
    if isinstance(exc, openai.APIError):
        return LLMError(f"the LLM reported an error{after}: {exc.message}", chars_received=got)
    return LLMError(f"the LLM stream failed{after}: {exc}", chars_received=got)


def _error_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return exc.message
