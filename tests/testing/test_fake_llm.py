"""The ``fake_llm`` fixture: a scripted model the real openai client and the pipeline use."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError, LLMError
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.session import SpeechSession
from polly_pipeline.sinks import MemorySink
from polly_pipeline.testing import DEFAULT_ANSWER, FakeLLM, split_tokens

ANSWER = "Streaming speech starts early. The rest follows while the model writes."


async def collect(source: AsyncIterable[str]) -> str:
    return "".join([text async for text in source])


async def drain(source: AsyncIterable[str], into: list[str]) -> None:
    """Iterate ``source`` into ``into`` (what came before a failure stays there)."""
    async for text in source:
        into.append(text)


async def test_the_default_script_answers_at_once_and_records_the_request(
    fake_llm: FakeLLM,
) -> None:
    source = fake_llm.source("Say something.", temperature=0.2)
    assert await collect(source) == DEFAULT_ANSWER
    assert source.result is not None
    assert source.result.finish_reason == "stop"
    [request] = fake_llm.requests
    assert request.model == "fake-llm"
    assert request.stream is True
    assert request.last_user_text == "Say something."
    assert request.body["temperature"] == 0.2


async def test_a_scripted_text_arrives_as_model_sized_tokens(fake_llm: FakeLLM) -> None:
    fake_llm.script(ANSWER)
    async with fake_llm.client() as llm:
        stream = await llm.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "How does it work?"},
            ],
            stream=True,
        )
        deltas = [c.choices[0].delta.content async for c in stream if c.choices]
    pieces = [d for d in deltas if d]
    assert "".join(pieces) == ANSWER
    assert pieces == split_tokens(ANSWER)
    assert all(1 <= len(p) <= 4 for p in pieces)
    [request] = fake_llm.requests
    assert request.model == "gpt-4o-mini"
    assert [m["role"] for m in request.messages] == ["system", "user"]
    assert request.messages[0]["content"] == "Be brief."


async def test_explicit_tokens_arrive_exactly_as_scripted(fake_llm: FakeLLM) -> None:
    tokens = ["Hel", "lo", ", ", "wor", "ld", "! 👋"]
    fake_llm.script(tokens)
    async with fake_llm.client() as llm:
        stream = await llm.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        deltas = [c.choices[0].delta.content async for c in stream if c.choices]
    assert [d for d in deltas if d] == tokens


async def test_a_failure_after_n_tokens_raises_llm_error_after_the_partial_text(
    fake_llm: FakeLLM,
) -> None:
    tokens = ["One ", "two ", "three ", "four ", "five."]
    fake_llm.script(tokens, fail_after_tokens=3)
    source = fake_llm.source("Count.")
    received: list[str] = []
    with pytest.raises(LLMError) as caught:
        await drain(source, received)
    assert received == tokens[:3]
    assert caught.value.chars_received == len("One two three ")
    assert source.result is None


async def test_the_first_token_waits_for_the_scripted_delay(fake_llm: FakeLLM) -> None:
    fake_llm.script("Late but fine.", first_token_delay=0.4)
    source = fake_llm.source("Take your time.")
    started = time.monotonic()
    first = await anext(source)
    waited = time.monotonic() - started
    rest = await collect(source)
    assert first + rest == "Late but fine."
    assert waited >= 0.35


async def test_the_token_rate_spreads_the_answer_over_time(fake_llm: FakeLLM) -> None:
    tokens = [f"w{i} " for i in range(6)]
    fake_llm.script(tokens, tokens_per_second=10)  # 5 gaps of 0.1 s
    source = fake_llm.source("Go.")
    arrivals: list[float] = []
    started = time.monotonic()
    async for _ in source:
        arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 6
    # token i never comes before i gaps of 0.1 s (the clock starts before the request is sent;
    # a busy machine only makes tokens later, so no upper bound is asserted)
    assert all(at >= i * 0.1 for i, at in enumerate(arrivals)), arrivals


async def test_the_script_can_change_between_turns_and_requests_accumulate(
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script("First answer.")
    assert await collect(fake_llm.source("one")) == "First answer."
    fake_llm.script("Second answer.")
    conversation = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "two"},
    ]
    assert await collect(fake_llm.source(messages=conversation, model="x")) == "Second answer."
    assert [r.last_user_text for r in fake_llm.requests] == ["one", "two"]
    assert len(fake_llm.requests[1].messages) == 3


async def test_max_tokens_still_cuts_a_scripted_answer(fake_llm: FakeLLM) -> None:
    fake_llm.script(["a ", "b ", "c ", "d."])
    source = fake_llm.source("Go.", max_tokens=2)
    assert await collect(source) == "a b "
    assert source.result is not None
    assert source.result.finish_reason == "length"


async def test_a_source_abandoned_half_way_can_be_closed(fake_llm: FakeLLM) -> None:
    fake_llm.script([f"t{i} " for i in range(50)], tokens_per_second=50)
    source = fake_llm.source("Long one.")
    assert await anext(source) == "t0 "
    await source.aclose()
    await source.aclose()  # idempotent
    with pytest.raises(StopAsyncIteration):
        await anext(source)


def test_bad_scripts_and_arguments_are_refused(fake_llm: FakeLLM) -> None:
    with pytest.raises(ConfigurationError, match=">= 0"):
        fake_llm.script("x", first_token_delay=-1)
    with pytest.raises(ConfigurationError, match="strings"):
        fake_llm.script(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="prompt or messages"):
        fake_llm.source()
    with pytest.raises(ConfigurationError, match="prompt or messages"):
        fake_llm.source("a", messages=[{"role": "user", "content": "b"}])


async def test_the_fake_model_drives_the_pipeline_end_to_end(
    fake_llm: FakeLLM, polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    fake_llm.script(ANSWER, first_token_delay=0.1, tokens_per_second=200)
    sink = MemorySink()
    async with SpeechSession(
        polly, voice_id="Joanna", output_format="pcm", keepalive_interval=0.3
    ) as session:
        report = await Pipeline(session).run(fake_llm.source("Explain."), sink)
    assert report.characters_in == len(ANSWER)
    assert report.tokens_in == len(split_tokens(ANSWER))
    spoken = "".join("".join(r.texts) for r in local_polly.streams)
    assert "Streaming speech starts early." in spoken
    assert "while the model writes." in spoken
    seconds = sink.duration_seconds()
    assert seconds is not None
    assert seconds > 2.0  # about a dozen words of speech
    assert fake_llm.requests[0].last_user_text == "Explain."
