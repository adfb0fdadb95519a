"""The pipeline's tasks end with it: after a source fails or a consumer stops early, none of
them is left pending, and the error raised is the source's own (not an ``ExceptionGroup``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from polly_pipeline.errors import LLMError
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.pipeline import Pipeline, segment
from polly_pipeline.session import SpeechSession
from polly_pipeline.sinks import MemorySink
from polly_pipeline.testing import virtual_clock
from tests.conftest import TEST_TIMEOUTS

ANSWER = "The first sentence is here. The second one never ends because the model"
WORDS = ANSWER.split()


def still_pending(before: set[asyncio.Task[object]]) -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() - before if not t.done()}


async def failing_model(fail_after: int) -> AsyncIterator[str]:
    for n, word in enumerate(WORDS):
        if n == fail_after:
            raise LLMError("the model's connection dropped", chars_received=n)
        await asyncio.sleep(0.05)
        yield word + " "


async def endless_model(closed: asyncio.Event) -> AsyncIterator[str]:
    try:
        while True:
            await asyncio.sleep(0.05)
            yield "Another sentence. "
    finally:
        closed.set()


@virtual_clock
async def test_a_failing_source_raises_its_error_and_leaves_no_task() -> None:
    before = asyncio.all_tasks()
    svc = LocalPollyService()
    sink = MemorySink()
    async with (
        memory_client(svc, timeouts=TEST_TIMEOUTS) as client,
        SpeechSession(client, voice_id="Joanna") as session,
    ):
        with pytest.raises(LLMError, match="connection dropped") as caught:
            await Pipeline(session).run(failing_model(fail_after=8), sink)
        assert caught.value.chars_received == 8
        # what arrived before the failure is still spoken
        assert "".join("".join(r.texts) for r in svc.streams).startswith("The first sentence")
        assert sink.data
    assert still_pending(before) == set()


@virtual_clock
async def test_a_consumer_stopping_early_closes_the_source_and_leaves_no_task() -> None:
    before = asyncio.all_tasks()
    closed = asyncio.Event()
    items = segment.raw(endless_model(closed))
    first = await anext(items)
    assert first.text.strip() == "Another sentence."
    await items.aclose()
    assert closed.is_set()
    assert still_pending(before) == set()


@virtual_clock
async def test_the_segmenter_raises_the_source_error_itself() -> None:
    before = asyncio.all_tasks()
    items = segment.raw(failing_model(fail_after=5))
    texts: list[str] = []

    async def read_all() -> None:
        async for item in items:
            texts.append(item.text)

    with pytest.raises(LLMError, match="connection dropped"):
        await read_all()
    assert "".join(texts).startswith("The first sentence is here.")
    assert still_pending(before) == set()
