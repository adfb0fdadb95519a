"""Test helpers: a scripted OpenAI-compatible streaming model, served over TLS.

:class:`FakeLLM` drives the demo LLM endpoint (``/v1/chat/completions``) of a running
:class:`~polly_pipeline.local.service.LocalPollyService`: the test scripts the answer (a text
or exact tokens), its pacing and a failure after N tokens, and the real ``openai`` client talks
to it over verified TLS. Every request it receives is recorded (:attr:`FakeLLM.requests`)::

    fake_llm.script("Hello there. How are you?", first_token_delay=0.2, tokens_per_second=50)
    source = fake_llm.source(prompt="Say hello")
    report = await Pipeline(session).run(source, sink)
    assert fake_llm.requests[0].last_user_text == "Say hello"
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import openai

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.local.config import DemoLLMConfig
from polly_pipeline.local.demo_llm import message_text
from polly_pipeline.sources.openai_source import ChatStreamResult, openai_chat_source

if TYPE_CHECKING:
    from polly_pipeline.local.service import LocalPollyService
    from polly_pipeline.sources.openai_source import OpenAIChatSource

__all__ = ["DEFAULT_ANSWER", "FAKE_MODEL", "FakeLLM", "FakeLLMSource", "RecordedRequest"]

#: What the fake model answers until a test scripts something else.
DEFAULT_ANSWER = "This is the scripted answer. It has two sentences."
#: The model name :meth:`FakeLLM.source` asks for unless told otherwise.
FAKE_MODEL = "fake-llm"
#: Seconds an ``openai`` client handed out waits for the fake model before it gives up.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class RecordedRequest:
    """One chat completions request the fake model received.

    Attributes:
        model: the model the request named.
        messages: the conversation sent, as JSON objects.
        stream: whether the request asked for a streamed answer.
        body: the whole JSON body (temperature, tools, max_tokens...).
    """

    model: str
    messages: tuple[Mapping[str, Any], ...]
    stream: bool
    body: Mapping[str, Any]

    @property
    def last_user_text(self) -> str | None:
        """The text of the last user message (None when there is none)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message.get("content"))
        return None


class FakeLLM:
    """A scripted streaming model behind a local service's OpenAI-compatible endpoint.

    The script applies to every request from the moment it is set; tests may change it
    between turns. The default answers :data:`DEFAULT_ANSWER` at once.

    Args:
        service: a started local Polly service (the ``local_polly`` fixture).
    """

    def __init__(self, service: LocalPollyService) -> None:
        if service.ca_file is None:
            raise ConfigurationError("FakeLLM needs a started local Polly service")
        self._service = service
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._clients: list[openai.AsyncOpenAI] = []
        self.script(DEFAULT_ANSWER)

    def __repr__(self) -> str:
        return f"<FakeLLM at {self.base_url}, {len(self.requests)} request(s)>"

    @property
    def base_url(self) -> str:
        """The OpenAI API base URL of the fake model (``https://127.0.0.1:<port>/v1``)."""
        return self._service.endpoint_url + "/v1"

    @property
    def ca_file(self) -> str:
        """The CA certificate a client must trust to reach the fake model."""
        return str(self._service.ca_file)

    @property
    def api_key(self) -> str:
        """Any key works; this is the one the clients handed out use."""
        return "fake-llm-key"

    @property
    def config(self) -> DemoLLMConfig:
        """The demo LLM configuration the current script set."""
        return self._service.config.demo_llm

    def script(
        self,
        answer: str | Sequence[str],
        *,
        first_token_delay: float = 0.0,
        tokens_per_second: float = 0.0,
        fail_after_tokens: int | None = None,
        seed: int = 0,
    ) -> None:
        """Set what the model answers from now on.

        Args:
            answer: a text (cut into 1-4 character tokens, see
                :func:`~polly_pipeline.testing.split_tokens`) or the exact tokens, in order.
            first_token_delay: seconds from a request to its first token.
            tokens_per_second: the rate of the following tokens; 0 sends them at once.
            fail_after_tokens: drop the connection after this many tokens; the source then
                raises :class:`~polly_pipeline.errors.LLMError` after yielding them.
            seed: how a text is cut into tokens.

        Raises:
            ConfigurationError: negative timings, or tokens that are not strings.
        """
        if isinstance(answer, str):
            text: str | None = answer
            tokens: tuple[str, ...] | None = None
        else:
            text, tokens = None, tuple(answer)
        self._service.config.demo_llm = DemoLLMConfig(
            first_token_delay=first_token_delay,
            tokens_per_second=tokens_per_second,
            seed=seed,
            fail_after_tokens=fail_after_tokens,
            answer=text,
            answer_tokens=tokens,
            on_request=self._record,
        )

    def pace(self, *, first_token_delay: float, tokens_per_second: float) -> None:
        """Change only the pacing of the scripted answer."""
        self._service.config.demo_llm = replace(
            self.config, first_token_delay=first_token_delay, tokens_per_second=tokens_per_second
        )

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every valid request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def client(self, *, timeout: float = DEFAULT_TIMEOUT, **kwargs: Any) -> openai.AsyncOpenAI:
        """A real ``openai.AsyncOpenAI`` for the fake model, trusting its certificate.

        Close it (``async with fake_llm.client() as llm:``). It does not retry, and gives up
        after ``timeout`` seconds; other ``kwargs`` go to ``openai.AsyncOpenAI``.
        """
        client = self._new_client(timeout, **kwargs)
        with self._lock:
            self._clients.append(client)
        return client

    def _new_client(self, timeout: float, **kwargs: Any) -> openai.AsyncOpenAI:
        tls = ssl.create_default_context(cafile=self.ca_file)
        kwargs.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key,
            http_client=openai.DefaultAsyncHttpxClient(verify=tls, timeout=timeout),
            timeout=timeout,
            **kwargs,
        )

    def source(
        self,
        prompt: str | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        model: str = FAKE_MODEL,
        timeout: float = DEFAULT_TIMEOUT,
        **create_kwargs: Any,
    ) -> FakeLLMSource:
        """A ready :func:`~polly_pipeline.sources.openai_chat_source` asking the fake model.

        Give a ``prompt`` (one user message) or the ``messages``. The source owns its client
        and closes it when the answer ends, fails, or the source is closed.
        """
        if (prompt is None) == (messages is None):
            raise ConfigurationError("give FakeLLM.source a prompt or messages (one of them)")
        conversation = [{"role": "user", "content": prompt}] if messages is None else messages
        client = self._new_client(timeout)  # owned (and closed) by the source
        inner = openai_chat_source(client, model=model, messages=conversation, **create_kwargs)
        return FakeLLMSource(inner, client)

    def unclosed_clients(self) -> int:
        """How many clients :meth:`client` handed out are still open (the fixture wants 0)."""
        with self._lock:
            return sum(not client.is_closed() for client in self._clients)

    def _record(self, body: Mapping[str, Any]) -> None:
        messages = body.get("messages") or []
        request = RecordedRequest(
            model=str(body.get("model")),
            messages=tuple(MappingProxyType(dict(m)) for m in messages if isinstance(m, dict)),
            stream=bool(body.get("stream")),
            body=MappingProxyType(dict(body)),
        )
        with self._lock:
            self._requests.append(request)


class FakeLLMSource:
    """An :class:`~polly_pipeline.sources.OpenAIChatSource` that closes its own client.

    Iterate it like the source it wraps; :attr:`result` and :attr:`progress` are the wrapped
    source's. The client is closed when the answer ends or fails, on :meth:`aclose`, and, for
    a source abandoned half-way (a cancelled pipeline), when the event loop shuts down.
    """

    def __init__(self, inner: OpenAIChatSource, client: openai.AsyncOpenAI) -> None:
        self._inner = inner
        self._client = client
        self._texts = self._run()

    @property
    def result(self) -> ChatStreamResult | None:
        """What happened, once the answer ended (None before that or after a failure)."""
        return self._inner.result

    @property
    def progress(self) -> ChatStreamResult:
        """What happened so far (also after a failure)."""
        return self._inner.progress

    def __aiter__(self) -> FakeLLMSource:
        return self

    async def __anext__(self) -> str:
        return await self._texts.__anext__()

    async def aclose(self) -> None:
        """Stop reading and close the client. Idempotent."""
        try:
            await self._texts.aclose()
        finally:
            await self._client.close()

    async def __aenter__(self) -> FakeLLMSource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[str, None]:
        # an async generator: the loop closes it (and so the client) if it is abandoned
        try:
            async for text in self._inner:
                yield text
        finally:
            try:
                await self._inner.aclose()
            finally:
                await self._client.close()
