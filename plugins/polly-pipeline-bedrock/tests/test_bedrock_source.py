"""bedrock_converse_source: the real botocore client against the local Bedrock over verified TLS."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import FIRST_TOKEN_DELAY, MODEL, TOKENS_PER_SECOND, reader_threads
from polly_pipeline_bedrock import ConverseStreamResult, bedrock_converse_source
from polly_pipeline_bedrock.testing import LocalBedrock, LocalBedrockConfig

from polly_pipeline.testing import REFERENCE_ANSWER, canned_answer, split_tokens

QUESTION = "How does streaming speech work?"


def canned(prompt: str) -> str:
    return canned_answer([{"role": "user", "content": prompt}]).text


async def collect(source: AsyncIterator[str], into: list[str] | None = None) -> list[str]:
    out = [] if into is None else into
    async for text in source:
        out.append(text)
    return out


# --- what is yielded -----------------------------------------------------------------------------


async def test_yields_the_answer_as_it_is_written(
    bedrock: Any, local_bedrock: LocalBedrock
) -> None:
    source = bedrock_converse_source(
        MODEL,
        prompt=QUESTION,
        system="Answer in plain prose.",
        inference_config={"temperature": 0.2, "maxTokens": 2000},
        client=bedrock,
    )
    started = time.monotonic()
    arrivals: list[float] = []
    pieces: list[str] = []
    async for text in source:
        arrivals.append(time.monotonic() - started)
        pieces.append(text)
    assert "".join(pieces) == REFERENCE_ANSWER
    assert pieces == split_tokens(REFERENCE_ANSWER)  # one delta per token: nothing merged or lost
    # at the model's pace: token i no sooner than the first-token delay and i tokens later (the
    # clock starts before the request; a busy machine only makes them later)
    due = [FIRST_TOKEN_DELAY + i / TOKENS_PER_SECOND for i in range(len(pieces))]
    assert all(at >= when for at, when in zip(arrivals, due, strict=True)), arrivals
    result = source.result
    assert isinstance(result, ConverseStreamResult)
    assert result.stop_reason == "end_turn"
    assert result.model_id == MODEL
    assert result.text_chars == len(REFERENCE_ANSWER)
    assert result.events == len(pieces) + 4  # messageStart, contentBlockStop, messageStop, metadata
    assert result.request_id  # the x-amzn-requestid header
    assert result.usage is not None
    assert result.usage.output_tokens == len(pieces)
    assert result.latency_ms is not None
    assert result.latency_ms > 0
    assert result.tool_uses == ()
    # what the service received: the model id from the path and the request members (its
    # server thread records the outcome a moment after the client saw the end)
    await asyncio.to_thread(local_bedrock.wait_for, lambda r: r[-1].outcome != "streaming", 10)
    (request,) = local_bedrock.requests
    assert request.model_id == MODEL
    assert request.body["system"] == [{"text": "Answer in plain prose."}]
    assert request.body["inferenceConfig"] == {"temperature": 0.2, "maxTokens": 2000}
    assert request.body["messages"] == [{"role": "user", "content": [{"text": QUESTION}]}]
    assert request.outcome == "completed"


async def test_messages_may_be_chat_style_and_pick_the_answer(bedrock: Any) -> None:
    messages = [
        {"role": "user", "content": "Hello."},
        {"role": "assistant", "content": [{"text": "Hi! How can I help?"}]},
        {"role": "user", "content": "Tell me a joke."},
    ]
    source = bedrock_converse_source(MODEL, messages, client=bedrock)
    assert "".join(await collect(source)) == canned("Tell me a joke.")
    # a plain string in place of messages is a prompt
    again = bedrock_converse_source(MODEL, "Tell me a joke.", client=bedrock)
    assert "".join(await collect(again)) == canned("Tell me a joke.")


async def test_the_default_credential_chain_endpoint_and_ca_from_the_environment(
    local_bedrock: LocalBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in local_bedrock.environment().items():
        monkeypatch.setenv(name, value)
    source = bedrock_converse_source(MODEL, prompt="Tell me a joke.", read_timeout=5)
    assert "".join(await collect(source)) == canned("joke")
    assert local_bedrock.requests[-1].access_key.startswith("AKID")


async def test_explicit_region_endpoint_and_ca_file(
    local_bedrock: LocalBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", local_bedrock.credentials.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", local_bedrock.credentials.secret_key)
    source = bedrock_converse_source(
        MODEL,
        prompt="Tell me a joke.",
        region=local_bedrock.region,
        endpoint_url=local_bedrock.endpoint_url,
        ca_file=local_bedrock.ca_file,
    )
    assert "".join(await collect(source)) == canned("joke")
    assert local_bedrock.region in repr(source)


async def test_reasoning_and_tool_use_are_counted_not_spoken(
    bedrock: Any, local_bedrock: LocalBedrock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="polly_pipeline_bedrock")
    local_bedrock.config = LocalBedrockConfig(
        answer="Let me look that up.",
        reasoning="The user wants the weather, so I should call the tool.",
        tool_use="get_weather",
        first_token_delay=0.01,
    )
    source = bedrock_converse_source(MODEL, prompt="Weather in Oslo?", client=bedrock)
    assert "".join(await collect(source)) == "Let me look that up."
    result = source.result
    assert result is not None
    assert result.stop_reason == "tool_use"
    assert result.tool_uses == ("get_weather",)
    assert result.reasoning_chars == len("The user wants the weather, so I should call the tool.")
    assert "1 tool call(s) (get_weather)" in caplog.text
    assert "reasoned for" in caplog.text
    assert "weather, so I should" not in caplog.text  # the reasoning itself is not logged


async def test_a_max_tokens_stop_is_a_warning_not_an_error(
    bedrock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    source = bedrock_converse_source(
        MODEL, prompt="Tell me a joke.", inference_config={"maxTokens": 4}, client=bedrock
    )
    assert "".join(await collect(source)) == "".join(split_tokens(canned("joke"))[:4])
    assert source.result is not None
    assert source.result.stop_reason == "max_tokens"
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "token limit" in caplog.text


async def test_metadata_reaches_the_callback(bedrock: Any) -> None:
    seen: list[ConverseStreamResult] = []
    source = bedrock_converse_source(
        MODEL, prompt="Tell me a joke.", client=bedrock, on_metadata=seen.append
    )
    await collect(source)
    assert len(seen) == 1
    assert seen[0].usage is not None
    assert seen[0].usage.total_tokens == seen[0].usage.input_tokens + seen[0].usage.output_tokens
    assert seen[0].stop_reason == "end_turn"


# --- stopping early ------------------------------------------------------------------------------


async def test_stopping_early_ends_the_thread_and_the_connection(
    local_bedrock: LocalBedrock, bedrock: Any
) -> None:
    local_bedrock.config = LocalBedrockConfig(first_token_delay=0.05, tokens_per_second=50)
    async with bedrock_converse_source(MODEL, prompt=QUESTION, client=bedrock) as source:
        first = await anext(source)
        assert reader_threads() != []
    assert first == split_tokens(REFERENCE_ANSWER)[0]
    assert reader_threads() == []  # aclose returned after the thread ended
    assert source.result is None
    with pytest.raises(StopAsyncIteration):
        await anext(source)
    # the server sees the client go away long before the answer is complete
    await asyncio.to_thread(
        local_bedrock.wait_for, lambda reqs: reqs[-1].outcome == "client_gone", 5.0
    )
    assert local_bedrock.requests[-1].tokens_sent < len(split_tokens(REFERENCE_ANSWER)) // 2
    # the client is still usable
    again = bedrock_converse_source(MODEL, prompt="Tell me a joke.", client=bedrock)
    assert "".join(await collect(again)) == canned("joke")


async def test_cancelling_the_consumer_ends_the_thread_and_the_connection(
    local_bedrock: LocalBedrock, bedrock: Any
) -> None:
    local_bedrock.config = LocalBedrockConfig(first_token_delay=0.05, tokens_per_second=50)
    source = bedrock_converse_source(MODEL, prompt=QUESTION, client=bedrock)
    streaming = asyncio.Event()

    async def consume() -> None:
        async for _ in source:
            streaming.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await streaming.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reader_threads() == []
    await asyncio.to_thread(
        local_bedrock.wait_for, lambda reqs: reqs[-1].outcome == "client_gone", 5.0
    )
