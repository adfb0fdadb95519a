"""The local service's render cache: one synthesis per distinct sentence, shared by streams."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from polly_pipeline.local import render
from polly_pipeline.local.render import RenderCache, render_pcm
from polly_pipeline.local.voice import OfflineVoice
from polly_pipeline.local.voices import get_voice

JOANNA = get_voice("Joanna")


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A fresh cache, and the texts the espeak-ng engine was really asked to speak."""
    monkeypatch.setattr(render, "CACHE", RenderCache())
    calls: list[str] = []
    real = OfflineVoice.synthesize
    lock = threading.Lock()

    def counting(self: OfflineVoice, text: str, **kwargs: Any) -> bytes:
        with lock:
            calls.append(text)
        return real(self, text, **kwargs)

    monkeypatch.setattr(OfflineVoice, "synthesize", counting)
    return calls


async def test_a_repeated_sentence_is_rendered_once(engine_calls: list[str]) -> None:
    first = await render_pcm("Hello there.", JOANNA, ssml=False, sample_rate=16000)
    again = await render_pcm("Hello there.", JOANNA, ssml=False, sample_rate=16000)
    other_rate = await render_pcm("Hello there.", JOANNA, ssml=False, sample_rate=8000)
    assert first == again
    assert len(other_rate) == pytest.approx(len(first) / 2, rel=0.01)
    assert engine_calls == ["Hello there.", "Hello there."]  # once per rate
    assert render.CACHE.hits == 1


async def test_concurrent_identical_requests_share_one_synthesis(engine_calls: list[str]) -> None:
    results = await asyncio.gather(
        *(render_pcm("All at once.", JOANNA, ssml=False, sample_rate=16000) for _ in range(50))
    )
    assert len(set(results)) == 1
    assert len(results[0]) > 16000  # more than half a second of speech
    assert engine_calls == ["All at once."]


async def test_a_cancelled_listener_does_not_cancel_the_render(engine_calls: list[str]) -> None:
    first = asyncio.create_task(render_pcm("Patience.", JOANNA, ssml=False, sample_rate=16000))
    second = asyncio.create_task(render_pcm("Patience.", JOANNA, ssml=False, sample_rate=16000))
    await asyncio.sleep(0)
    first.cancel()
    pcm = await asyncio.wait_for(second, 10)
    assert pcm
    assert engine_calls == ["Patience."]


async def test_failures_reach_every_waiter_and_are_not_cached(
    engine_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = OfflineVoice.synthesize
    failures = [RuntimeError("espeak-ng failed")]
    # the render fails only once all three callers wait on it: a worker thread that failed
    # before the last one asked would leave nothing in flight, and that caller rightly renders
    # anew (the failure is not cached)
    claims: list[object] = []
    all_waiting = threading.Event()
    claim = render.CACHE.claim

    def counted_claim(key: Any) -> Any:
        claimed = claim(key)
        claims.append(key)
        if len(claims) == 3:
            all_waiting.set()
        return claimed

    def flaky(self: OfflineVoice, text: str, **kwargs: Any) -> bytes:
        if failures:
            assert all_waiting.wait(10), "the three callers never all waited on the render"
            raise failures.pop()
        return real(self, text, **kwargs)

    monkeypatch.setattr(render.CACHE, "claim", counted_claim)
    monkeypatch.setattr(OfflineVoice, "synthesize", flaky)
    outcomes = await asyncio.gather(
        *(render_pcm("Try again.", JOANNA, ssml=False, sample_rate=16000) for _ in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert await render_pcm("Try again.", JOANNA, ssml=False, sample_rate=16000)


async def test_the_cache_stays_within_its_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = RenderCache(max_bytes=200_000)  # a few sentences at 16 kHz
    monkeypatch.setattr(render, "CACHE", cache)
    for i in range(12):
        await render_pcm(f"Sentence number {i}.", JOANNA, ssml=False, sample_rate=16000)
    assert 0 < cache._size <= cache.max_bytes
    assert len(cache._done) < 12  # the oldest were evicted
    assert "bytes" in repr(cache)
