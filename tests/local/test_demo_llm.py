"""The offline demo LLM as the real ``openai`` client (and a raw HTTP client) sees it."""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.local.config import DemoLLMConfig, LocalServiceConfig
from polly_pipeline.local.demo_llm import (
    CANNED_ANSWERS,
    DEMO_MODEL,
    REFERENCE_ANSWER,
    canned_answer,
    tokenize,
)
from polly_pipeline.local.service import LocalPollyService

FIRST_TOKEN_DELAY = 0.3
TOKENS_PER_SECOND = 200.0
JOKE = [{"role": "user", "content": "Tell me a joke."}]


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    """A demo LLM fast enough for tests, slow enough to see the pacing."""
    return LocalServiceConfig(
        demo_llm=DemoLLMConfig(
            first_token_delay=FIRST_TOKEN_DELAY, tokens_per_second=TOKENS_PER_SECOND
        )
    )


def tls(service: LocalPollyService) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(service.ca_file))


@pytest.fixture
async def llm(local_polly: LocalPollyService) -> AsyncIterator[openai.AsyncOpenAI]:
    """The real openai client, verifying the local service's certificate."""
    client = openai.AsyncOpenAI(
        base_url=local_polly.endpoint_url + "/v1",
        api_key="local",
        http_client=openai.DefaultAsyncHttpxClient(verify=tls(local_polly)),
        max_retries=0,
    )
    async with client:
        yield client


@pytest.fixture
async def raw(local_polly: LocalPollyService) -> AsyncIterator[httpx2.AsyncClient]:
    """A plain HTTP client, to look at the bytes on the wire."""
    async with httpx2.AsyncClient(
        base_url=local_polly.endpoint_url, verify=tls(local_polly)
    ) as client:
        yield client


def answer_text(prompt: str) -> str:
    return canned_answer([{"role": "user", "content": prompt}]).text


# --- streaming through the openai client -------------------------------------------------------


async def test_openai_client_streams_the_canned_answer_token_by_token(
    llm: openai.AsyncOpenAI,
) -> None:
    started = time.monotonic()
    stream = await llm.chat.completions.create(model="gpt-4o-mini", messages=JOKE, stream=True)
    arrivals: list[float] = []
    chunks = []
    async for chunk in stream:
        chunks.append(chunk)
        arrivals.append(time.monotonic() - started)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer_text("joke")
    first, *middle, last = chunks
    assert first.choices[0].delta.role == "assistant"
    assert last.choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in [first, *middle])
    assert {c.id for c in chunks} == {first.id}
    assert {c.model for c in chunks} == {"gpt-4o-mini"}  # the requested model is echoed
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    # paced like a model: nothing before the first-token delay, then token i no sooner than i
    # tokens later (the clock starts before the request; a busy machine only makes them later)
    tokens = len(tokenize(text))
    assert len(arrivals) == tokens + 2  # role chunk, one per token, the finish chunk
    due = [FIRST_TOKEN_DELAY + i / TOKENS_PER_SECOND for i in range(tokens)]
    assert arrivals[0] >= FIRST_TOKEN_DELAY  # the role chunk
    assert all(at >= when for at, when in zip(arrivals[1:-1], due, strict=True)), arrivals


async def test_the_default_answer_is_the_reference_answer(
    llm: openai.AsyncOpenAI, local_polly: LocalPollyService
) -> None:
    local_polly.config.demo_llm = DemoLLMConfig(first_token_delay=0, tokens_per_second=0)
    stream = await llm.chat.completions.create(
        model=DEMO_MODEL,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "How does streaming speech work?"},
        ],
        stream=True,
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == REFERENCE_ANSWER


async def test_usage_comes_last_when_asked_for(llm: openai.AsyncOpenAI) -> None:
    stream = await llm.chat.completions.create(
        model=DEMO_MODEL, messages=JOKE, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert all(c.usage is None for c in chunks[:-1])
    final = chunks[-1]
    assert final.choices == []
    assert final.usage is not None
    assert final.usage.completion_tokens == len(tokenize(answer_text("joke")))
    assert final.usage.total_tokens == final.usage.prompt_tokens + final.usage.completion_tokens


async def test_whole_completion_without_stream(llm: openai.AsyncOpenAI) -> None:
    completion = await llm.chat.completions.create(
        model="any-model", messages=[{"role": "user", "content": "hello there"}]
    )
    assert completion.object == "chat.completion"
    assert completion.model == "any-model"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == answer_text("hello")
    assert "demo" in (choice.message.content or "")  # the stand-in says what it is
    assert completion.usage is not None
    assert completion.usage.completion_tokens == len(tokenize(answer_text("hello")))


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Tell me a JOKE, please", "joke"),
        ("What's the weather like?", "weather"),
        ("Hi!", "hello"),
        ("Give me a short answer.", "short"),
        ("Write some code", "code"),
        ("Warum ist der Himmel blau?", "auf deutsch"),
        ("空はなぜ青いのですか？", "日本語"),
    ],
)
async def test_keywords_pick_the_answer(
    llm: openai.AsyncOpenAI, local_polly: LocalPollyService, prompt: str, expected: str
) -> None:
    local_polly.config.demo_llm = DemoLLMConfig(first_token_delay=0, tokens_per_second=0)
    texts = []
    for _ in range(2):
        completion = await llm.chat.completions.create(
            model=DEMO_MODEL, messages=[{"role": "user", "content": prompt}]
        )
        texts.append(completion.choices[0].message.content)
    assert texts[0] == texts[1] == answer_text(expected)  # canned: the same every time


async def test_max_tokens_cuts_the_answer_with_finish_reason_length(
    llm: openai.AsyncOpenAI,
) -> None:
    stream = await llm.chat.completions.create(
        model=DEMO_MODEL, messages=JOKE, stream=True, max_tokens=5
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "".join(tokenize(answer_text("joke"))[:5])
    assert chunks[-1].choices[0].finish_reason == "length"


async def test_refusals_come_as_refusal_deltas(llm: openai.AsyncOpenAI) -> None:
    stream = await llm.chat.completions.create(
        model=DEMO_MODEL,
        messages=[{"role": "user", "content": "Please refuse this."}],
        stream=True,
    )
    chunks = [c async for c in stream]
    refusal = "".join(c.choices[0].delta.refusal or "" for c in chunks)
    assert refusal == "I'm sorry, but I can't help with that request."
    assert all(not c.choices[0].delta.content for c in chunks)


async def test_offered_tools_are_called_then_answered(llm: openai.AsyncOpenAI) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object"}},
        }
    ]
    question = {"role": "user", "content": "What's the weather in Paris?"}
    stream = await llm.chat.completions.create(
        model=DEMO_MODEL, messages=[question], tools=tools, stream=True
    )
    chunks = [c async for c in stream]
    calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or ()]
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert calls[0].id is not None
    arguments = "".join(call.function.arguments or "" for call in calls if call.function)
    assert json.loads(arguments) == {"query": "What's the weather in Paris?"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # after the tool's answer, the model answers in text
    followup: Any = [
        question,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": calls[0].id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
    ]
    completion = await llm.chat.completions.create(model=DEMO_MODEL, messages=followup, tools=tools)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == answer_text("weather")


async def test_models_lists_the_demo_model(llm: openai.AsyncOpenAI) -> None:
    page = await llm.models.list()
    assert [model.id for model in page.data] == [DEMO_MODEL]


# --- errors in OpenAI's format -----------------------------------------------------------------


async def test_any_bearer_token_works_but_one_is_required(llm: openai.AsyncOpenAI) -> None:
    other = llm.with_options(api_key="sk-anything-at-all")
    completion = await other.chat.completions.create(model=DEMO_MODEL, messages=JOKE)
    assert completion.choices[0].message.content == answer_text("joke")
    with pytest.raises(openai.AuthenticationError) as caught:
        await llm.chat.completions.create(
            model=DEMO_MODEL,
            messages=JOKE,
            stream=True,
            extra_headers={"Authorization": openai.omit},
        )
    assert caught.value.status_code == 401
    assert caught.value.type == "invalid_request_error"
    assert "API key" in caught.value.message


async def test_bad_requests_are_answered_like_openai(llm: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await llm.chat.completions.create(model=DEMO_MODEL, messages=[], stream=True)
    assert caught.value.param == "messages"
    assert caught.value.code == "empty_array"
    bad_role: Any = [{"role": "robot", "content": "beep"}]
    with pytest.raises(openai.BadRequestError) as caught:
        await llm.chat.completions.create(model=DEMO_MODEL, messages=bad_role)
    assert caught.value.param == "messages[0].role"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (json.dumps({"model": DEMO_MODEL}).encode(), "messages"),
        (json.dumps({"messages": JOKE}).encode(), None),
        (json.dumps({"model": "m", "messages": JOKE, "stream": "yes"}).encode(), "stream"),
        (
            json.dumps({"model": "m", "messages": JOKE, "stream_options": {}}).encode(),
            "stream_options",
        ),
    ],
)
async def test_raw_bad_requests_get_openai_error_json(
    raw: httpx2.AsyncClient, body: bytes, param: str | None
) -> None:
    response = await raw.post(
        "/v1/chat/completions",
        content=body,
        headers={"authorization": "Bearer local", "content-type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]


# --- the wire format -------------------------------------------------------------------------


async def test_server_sent_events_on_the_wire(raw: httpx2.AsyncClient) -> None:
    request = {
        "model": DEMO_MODEL,
        "messages": JOKE,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with raw.stream(
        "POST", "/v1/chat/completions", json=request, headers={"authorization": "Bearer x"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-polly-pipeline-demo"]  # labelled as a stand-in
        body = (await response.aread()).decode()
    events = body.split("\n\n")
    assert events[-1] == ""
    assert events[-2] == "data: [DONE]"
    docs = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(e.startswith("data: {") for e in events[:-2])
    for doc in docs:
        assert {"id", "object", "created", "model", "choices", "usage"} <= set(doc)
    assert docs[0]["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": "", "refusal": None},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert docs[-2]["choices"][0]["delta"] == {}
    assert docs[-2]["choices"][0]["finish_reason"] == "stop"
    assert docs[-1]["choices"] == []
    assert docs[-1]["usage"]["completion_tokens"] == len(docs) - 3


async def test_dropped_stream_fails_in_the_openai_client(
    llm: openai.AsyncOpenAI, local_polly: LocalPollyService
) -> None:
    local_polly.config.demo_llm = DemoLLMConfig(
        first_token_delay=0, tokens_per_second=0, fail_after_tokens=7
    )
    stream = await llm.chat.completions.create(model=DEMO_MODEL, messages=JOKE, stream=True)
    received: list[str] = []

    async def read_all() -> None:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIConnectionError):
        await read_all()
    assert "".join(received) == "".join(tokenize(answer_text("joke"))[:7])


# --- the pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_tokens_are_word_pieces_with_their_leading_space(seed: int) -> None:
    texts = [REFERENCE_ANSWER] + [answer.text for _, answer in CANNED_ANSWERS]
    for text in texts:
        tokens = tokenize(text, seed)
        assert "".join(tokens) == text
        assert all(1 <= len(t) <= 4 for t in tokens)
        # spaces go with the word after them, as real tokenizers do
        assert not [t for t in tokens if t.endswith(" ") and t.strip()]
    assert tokenize(REFERENCE_ANSWER, seed) == tokenize(REFERENCE_ANSWER, seed)
    assert " by" in tokenize(REFERENCE_ANSWER, seed)


def test_seeds_cut_differently() -> None:
    assert tokenize(REFERENCE_ANSWER, 0) != tokenize(REFERENCE_ANSWER, 1)


def test_reference_answer_is_the_hard_case_for_speech() -> None:
    words = len(REFERENCE_ANSWER.split())
    assert 250 <= words <= 350
    assert re.search(r"^# ", REFERENCE_ANSWER, re.M)  # a heading
    assert re.search(r"^- ", REFERENCE_ANSWER, re.M)  # a list
    assert "**" in REFERENCE_ANSWER  # bold
    for needle in ("e.g.", "Dr.", "3.14", "$1.5 million", "https://", "March 14, 2025"):
        assert needle in REFERENCE_ANSWER


def test_demo_llm_config_is_checked() -> None:
    with pytest.raises(ConfigurationError):
        DemoLLMConfig(tokens_per_second=-1)
    with pytest.raises(ConfigurationError):
        DemoLLMConfig(fail_after_tokens=-1)
