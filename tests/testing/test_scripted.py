"""``scripted_tokens``: a paced token source with no server, for testing sinks and stages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError, LLMError
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.session import SpeechSession
from polly_pipeline.sinks import MemorySink
from polly_pipeline.testing import scripted_tokens, split_tokens, virtual_clock


async def drain(source: AsyncIterable[str], into: list[str]) -> None:
    """Iterate ``source`` into ``into`` (what came before a failure stays there)."""
    async for text in source:
        into.append(text)


TEXT = "Hello there. This is a scripted answer, cut like a model's."


async def test_a_text_is_cut_into_tokens_that_join_back() -> None:
    tokens = [t async for t in scripted_tokens(TEXT)]
    assert "".join(tokens) == TEXT
    assert tokens == split_tokens(TEXT)
    assert len(tokens) > 10
    assert all(1 <= len(t) <= 4 for t in tokens)


async def test_explicit_tokens_are_yielded_as_given() -> None:
    assert [t async for t in scripted_tokens(["a", "", "bc "])] == ["a", "", "bc "]


async def test_a_seed_changes_the_cut_but_not_the_text() -> None:
    one = split_tokens(TEXT * 3, seed=1)
    two = split_tokens(TEXT * 3, seed=2)
    assert "".join(one) == "".join(two) == TEXT * 3
    assert one != two


async def test_a_failure_comes_after_the_scripted_tokens() -> None:
    got: list[str] = []
    with pytest.raises(LLMError, match="after 2 tokens") as caught:
        await drain(scripted_tokens(["ab", "cde", "f"], fail_after_tokens=2), got)
    assert got == ["ab", "cde"]
    assert caught.value.chars_received == 5


@virtual_clock
async def test_pacing_delays_the_first_token_and_spreads_the_rest() -> None:
    # on the virtual clock each token comes exactly when it is due, however busy the machine
    loop = asyncio.get_running_loop()
    started = loop.time()
    arrivals = []
    async for _ in scripted_tokens(
        ["a", "b", "c", "d"], first_token_delay=0.2, tokens_per_second=20
    ):
        arrivals.append(loop.time() - started)
    assert arrivals == pytest.approx([0.2, 0.25, 0.3, 0.35])  # the delay, then gaps of 0.05 s


def test_bad_arguments_fail_at_once() -> None:
    with pytest.raises(ConfigurationError):
        scripted_tokens("x", first_token_delay=-0.1)
    with pytest.raises(ConfigurationError):
        scripted_tokens("x", tokens_per_second=-1)
    with pytest.raises(ConfigurationError):
        scripted_tokens("x", fail_after_tokens=-1)
    with pytest.raises(ConfigurationError, match="int"):
        scripted_tokens(["x", 1])  # type: ignore[list-item]


async def test_scripted_tokens_feed_a_pipeline(polly: PollyStreamingClient) -> None:
    sink = MemorySink()
    async with SpeechSession(
        polly, voice_id="Joanna", output_format="pcm", keepalive_interval=0.3
    ) as session:
        report = await Pipeline(session).run(scripted_tokens(TEXT, tokens_per_second=300), sink)
    assert report.characters_in == len(TEXT)
    seconds = sink.duration_seconds()
    assert seconds is not None
    assert seconds > 1.5
