"""openai_chat_source: the real openai client against the demo LLM (and, for the failures the
demo cannot produce, against scripted HTTP answers in OpenAI's wire format)."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import openai
import pytest

from polly_pipeline.errors import ConfigurationError, LLMError, PollyPipelineError
from polly_pipeline.local.config import DemoLLMConfig
from polly_pipeline.local.demo_llm import DEMO_MODEL, REFERENCE_ANSWER, canned_answer, tokenize
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.sources import ChatStreamResult, OpenAIChatSource, openai_chat_source
from tests.sources.conftest import FIRST_TOKEN_DELAY, TOKENS_PER_SECOND, demo_client

QUESTION = [{"role": "user", "content": "How does streaming speech work?"}]
JOKE = [{"role": "user", "content": "Tell me a joke."}]


def canned(prompt: str) -> str:
    return canned_answer([{"role": "user", "content": prompt}]).text


async def collect(source: AsyncIterator[str], into: list[str] | None = None) -> list[str]:
    out = [] if into is None else into
    async for text in source:
        out.append(text)
    return out


# --- what is yielded -----------------------------------------------------------------------------


async def test_yields_the_answer_as_it_is_written(llm: openai.AsyncOpenAI) -> None:
    started = time.monotonic()
    source = openai_chat_source(llm, model=DEMO_MODEL, messages=QUESTION)
    arrivals: list[float] = []
    pieces: list[str] = []
    async for text in source:
        arrivals.append(time.monotonic() - started)
        pieces.append(text)
    assert "".join(pieces) == REFERENCE_ANSWER
    assert pieces == tokenize(REFERENCE_ANSWER)  # one delta per token: nothing merged or lost
    assert all(pieces)  # role-only and finish chunks yield nothing
    # at the model's pace: token i no sooner than the first-token delay and i tokens later (the
    # clock starts before the request; a busy machine only makes them later)
    due = [FIRST_TOKEN_DELAY + i / TOKENS_PER_SECOND for i in range(len(pieces))]
    assert all(at >= when for at, when in zip(arrivals, due, strict=True)), arrivals
    result = source.result
    assert isinstance(result, ChatStreamResult)
    assert result.finish_reason == "stop"
    assert result.model == DEMO_MODEL
    assert result.text_chars == len(REFERENCE_ANSWER)
    assert result.chunks == len(pieces) + 2
    assert result.tool_calls == ()
    assert result.refusal is None
    assert result.usage is None


async def test_options_pass_through_and_usage_is_reported(llm: openai.AsyncOpenAI) -> None:
    source = openai_chat_source(
        llm,
        model="my-model",
        messages=JOKE,
        temperature=0.2,
        stream_options={"include_usage": True},
    )
    assert "".join(await collect(source)) == canned("joke")
    assert source.result is not None
    assert source.result.model == "my-model"
    assert source.result.usage is not None
    assert source.result.usage.completion_tokens == len(tokenize(canned("joke")))


async def test_refusals_are_spoken_and_reported(
    llm: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="polly_pipeline.sources")
    messages = [{"role": "user", "content": "Please refuse."}]
    source = openai_chat_source(llm, model=DEMO_MODEL, messages=messages)
    text = "".join(await collect(source))
    assert text == "I'm sorry, but I can't help with that request."
    assert source.result is not None
    assert source.result.refusal == text
    assert "refused" in caplog.text


async def test_tool_calls_are_counted_not_spoken(
    llm: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="polly_pipeline.sources")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    messages = [{"role": "user", "content": "Weather in Oslo?"}]
    source = openai_chat_source(llm, model=DEMO_MODEL, messages=messages, tools=tools)
    assert await collect(source) == []
    assert source.result is not None
    assert source.result.tool_calls == ("get_weather",)
    assert source.result.finish_reason == "tool_calls"
    assert "1 tool call(s) (get_weather)" in caplog.text


async def test_a_length_cut_is_a_warning_not_an_error(
    llm: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    source = openai_chat_source(llm, model=DEMO_MODEL, messages=JOKE, max_tokens=4)
    assert "".join(await collect(source)) == "".join(tokenize(canned("joke"))[:4])
    assert source.result is not None
    assert source.result.finish_reason == "length"
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "token limit" in caplog.text


async def test_stopping_early_closes_the_response(
    llm: openai.AsyncOpenAI, local_polly: LocalPollyService
) -> None:
    async with openai_chat_source(llm, model=DEMO_MODEL, messages=QUESTION) as source:
        first = await anext(source)
    assert first == tokenize(REFERENCE_ANSWER)[0]
    assert source.result is None  # it did not finish
    with pytest.raises(StopAsyncIteration):
        await anext(source)
    # the client is still usable
    again = openai_chat_source(llm, model=DEMO_MODEL, messages=JOKE)
    assert "".join(await collect(again)) == canned("joke")


def test_stream_is_not_an_option(llm: openai.AsyncOpenAI) -> None:
    with pytest.raises(ConfigurationError, match="always streams"):
        openai_chat_source(llm, model=DEMO_MODEL, messages=JOKE, stream=False)
    with pytest.raises(ConfigurationError, match="at least one message"):
        openai_chat_source(llm, model=DEMO_MODEL, messages=[])


# --- failures ----------------------------------------------------------------------------------


async def test_a_stream_cut_midway_raises_after_the_text_so_far(
    llm: openai.AsyncOpenAI, local_polly: LocalPollyService
) -> None:
    local_polly.config.demo_llm = DemoLLMConfig(
        first_token_delay=0.05, tokens_per_second=500, fail_after_tokens=25
    )
    source = openai_chat_source(llm, model=DEMO_MODEL, messages=QUESTION)
    pieces: list[str] = []
    with pytest.raises(LLMError) as caught:
        await collect(source, pieces)
    text = "".join(pieces)
    assert text == "".join(tokenize(REFERENCE_ANSWER)[:25])  # nothing lost before the cut
    error = caught.value
    assert error.chars_received == len(text)
    assert "stream from https://127.0.0.1" in str(error)
    assert "broke after" in str(error)
    assert isinstance(error.__cause__, openai.APIConnectionError)
    assert source.result is None
    assert source.progress.text_chars == len(text)


async def test_missing_api_key_is_an_llm_error_with_the_status(
    local_polly: LocalPollyService,
) -> None:
    async with demo_client(local_polly) as client:
        source = openai_chat_source(
            client,
            model=DEMO_MODEL,
            messages=JOKE,
            extra_headers={"Authorization": openai.omit},  # no bearer token at all
        )
        with pytest.raises(LLMError) as caught:
            await collect(source)
    error = caught.value
    assert isinstance(error, PollyPipelineError)
    assert error.status == 401
    assert "HTTP 401" in str(error)
    assert "check the API key" in str(error)
    assert "You didn't provide an API key" in str(error)  # the server's own words
    assert isinstance(error.__cause__, openai.AuthenticationError)


async def test_a_bad_request_is_an_llm_error_with_the_status(llm: openai.AsyncOpenAI) -> None:
    messages = [{"role": "robot", "content": "beep"}]
    with pytest.raises(LLMError) as caught:
        await collect(openai_chat_source(llm, model=DEMO_MODEL, messages=messages))
    assert caught.value.status == 400
    assert "messages[0].role" in str(caught.value)
    assert isinstance(caught.value.__cause__, openai.BadRequestError)


async def test_a_wrong_base_url_is_a_404_llm_error(local_polly: LocalPollyService) -> None:
    async with demo_client(local_polly, base_url=local_polly.endpoint_url + "/v9") as client:
        with pytest.raises(LLMError) as caught:
            await collect(openai_chat_source(client, model=DEMO_MODEL, messages=JOKE))
    assert caught.value.status == 404
    assert "check the model name and the base URL" in str(caught.value)
    assert "/v9" in str(caught.value)


async def test_a_slow_first_token_is_a_timeout(local_polly: LocalPollyService) -> None:
    local_polly.config.demo_llm = DemoLLMConfig(first_token_delay=3.0)
    async with demo_client(local_polly, timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(LLMError) as caught:
            await collect(openai_chat_source(client, model=DEMO_MODEL, messages=JOKE))
    assert time.monotonic() - started < 2.0
    assert "timed out" in str(caught.value)
    assert isinstance(caught.value.__cause__, openai.APITimeoutError)


async def test_no_server_is_a_connection_llm_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    async with client:
        with pytest.raises(LLMError) as caught:
            await collect(openai_chat_source(client, model=DEMO_MODEL, messages=JOKE))
    assert f"could not reach the LLM at http://127.0.0.1:{port}/v1" in str(caught.value)
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, openai.APIConnectionError)


# --- failures the demo does not produce: scripted answers in OpenAI's wire format ---------------


def scripted(handler: Callable[[httpx2.Request], httpx2.Response]) -> openai.AsyncOpenAI:
    """The real openai client whose HTTP answers come from ``handler``."""
    return openai.AsyncOpenAI(
        base_url="https://llm.invalid/v1",
        api_key="k",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )


def sse(*docs: dict[str, Any], done: bool = True) -> bytes:
    events = [f"data: {json.dumps(doc)}\n\n" for doc in docs]
    return ("".join(events) + ("data: [DONE]\n\n" if done else "")).encode()


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def test_rate_limiting_is_a_429_llm_error() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        error = {"message": "Rate limit reached", "type": "requests", "code": "rate_limit"}
        return httpx2.Response(429, json={"error": error})

    async with scripted(handler) as client:
        with pytest.raises(LLMError) as caught:
            await collect(openai_chat_source(client, model="m", messages=JOKE))
    assert caught.value.status == 429
    assert "rate limited" in str(caught.value)
    assert "Rate limit reached" in str(caught.value)
    assert isinstance(caught.value.__cause__, openai.RateLimitError)


async def test_an_error_event_midway_is_an_llm_error() -> None:
    body = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        {"error": {"message": "The server had an error", "type": "server_error"}},
    )

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    pieces: list[str] = []
    async with scripted(handler) as client:
        with pytest.raises(LLMError) as caught:
            await collect(openai_chat_source(client, model="m", messages=JOKE), pieces)
    assert pieces == ["Hello"]
    assert "The server had an error" in str(caught.value)
    assert caught.value.chars_received == 5


async def test_a_stream_without_a_finish_reason_is_cut_short() -> None:
    body = sse(chunk({"role": "assistant"}), chunk({"content": "Half an ans"}), done=False)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    source: OpenAIChatSource
    pieces: list[str] = []
    async with scripted(handler) as client:
        source = openai_chat_source(client, model="m", messages=JOKE)
        with pytest.raises(LLMError, match="without a finish reason"):
            await collect(source, pieces)
    assert pieces == ["Half an ans"]


async def test_empty_and_none_deltas_yield_nothing() -> None:
    body = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": None}),
        chunk({"content": "A"}),
        chunk({}),
        chunk({"content": "B"}),
        chunk({}, "stop"),
    )

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with scripted(handler) as client:
        assert await collect(openai_chat_source(client, model="m", messages=JOKE)) == ["A", "B"]
