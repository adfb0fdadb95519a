"""Playback continuity: no silence after a short first sentence while a long one is written.

The decision is pure (audio queued ahead of the listener against the policy's threshold) and
tested with given figures; the end-to-end test runs the real pipeline on the virtual clock
against the local service (in memory, its realistic latency model) at a model's pace.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from polly_pipeline.audio import AudioChunk
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.local.config import LatencyModel, LocalServiceConfig
from polly_pipeline.local.demo_answers import tokenize
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.pipeline import FlushPolicy, Pipeline
from polly_pipeline.pipeline.continuity import AudioAhead
from polly_pipeline.session import SpeechSession
from polly_pipeline.sinks import MemorySink
from polly_pipeline.testing import virtual_clock
from tests.conftest import TEST_TIMEOUTS

SHORT_ANSWER = (
    "Sure. The sky looks blue because the molecules of the air scatter the short, blue "
    "wavelengths of sunlight far more strongly than the long, red ones, so blue light reaches "
    "your eyes from every part of the sky. At sunset the light crosses much more air, and "
    "the reds remain."
)


def test_audio_ahead_adds_segments_back_to_back_and_drains_with_time() -> None:
    ahead = AudioAhead()
    assert ahead.ahead(5.0) == 0.0  # nothing sent: nothing to hear
    ahead.sent(10.0, 0.4)  # "Sure."
    assert ahead.ahead(10.0) == pytest.approx(0.4)
    assert ahead.ahead(10.3) == pytest.approx(0.1)
    assert ahead.ahead(11.0) == 0.0
    ahead.sent(10.2, 3.0)  # queued behind "Sure.": starts at 10.4
    assert ahead.ahead(10.2) == pytest.approx(3.2)
    ahead.sent(20.0, 1.0)  # after a silence: starts when sent
    assert ahead.ahead(20.5) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("policy", "audio_ahead", "catch_up"),
    [
        (FlushPolicy(), 0.0, True),
        (FlushPolicy(), 0.35, True),
        (FlushPolicy(), 1.0, False),  # enough queued: sentences go whole
        (FlushPolicy(), 4.8, False),
        (FlushPolicy(catch_up_below=3.0), 2.5, True),
        (FlushPolicy(catch_up_below=0), 0.0, False),  # off
        (FlushPolicy(mode="end_only"), 0.0, False),  # never forces before the end
        (FlushPolicy(mode="every_segment"), 0.2, True),
    ],
)
def test_catch_up_is_decided_by_the_audio_ahead(
    policy: FlushPolicy, audio_ahead: float, catch_up: bool
) -> None:
    assert policy.catch_up(audio_ahead) is catch_up


@pytest.mark.parametrize("bad", [-0.5, float("nan")])
def test_a_bad_catch_up_threshold_is_named(bad: float) -> None:
    with pytest.raises(ConfigurationError, match="catch_up_below"):
        FlushPolicy(catch_up_below=bad)


async def paced(text: str, first: float = 0.4, rate: float = 40.0) -> AsyncIterator[str]:
    """The answer at a model's pace: first token after ``first`` s, then ``rate`` per second."""
    await asyncio.sleep(first)
    for token in tokenize(text):
        yield token
        await asyncio.sleep(1 / rate)


class Listener(MemorySink):
    """A sink that notes when each chunk arrived (on the loop's clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, float]] = []
        self.asked_at = 0.0

    @property
    def first_audio(self) -> float:
        """Seconds from the question to the first chunk."""
        return self.arrivals[0][0] - self.asked_at

    async def write(self, chunk: AudioChunk) -> None:
        self.arrivals.append((asyncio.get_running_loop().time(), chunk.seconds))
        await super().write(chunk)

    def silences(self) -> list[float]:
        """What a listener who plays from the first chunk in real time hears as silence."""
        gaps: list[float] = []
        playing_until = self.arrivals[0][0]
        for at, seconds in self.arrivals:
            if at > playing_until + 0.001:
                gaps.append(at - playing_until)
            playing_until = max(playing_until, at) + seconds
        return gaps


async def speak_short_answer(policy: FlushPolicy) -> tuple[Listener, LocalPollyService]:
    svc = LocalPollyService(LocalServiceConfig(latency=LatencyModel.realistic()))
    listener = Listener()
    async with (
        memory_client(svc, timeouts=TEST_TIMEOUTS) as client,
        SpeechSession(client, voice_id="Joanna", seed=3) as session,
    ):
        await session.start()
        listener.asked_at = asyncio.get_running_loop().time()
        report = await Pipeline(session, flush=policy).run(paced(SHORT_ANSWER), listener)
    assert report.audio_seconds > 5
    return listener, svc


@virtual_clock
async def test_the_silence_after_a_short_first_sentence_shrinks() -> None:
    whole, _ = await speak_short_answer(FlushPolicy(catch_up_below=0))
    caught_up, svc = await speak_short_answer(FlushPolicy())
    # without catching up the listener waits for the long sentence to be written
    assert max(whole.silences(), default=0.0) > 0.5
    assert sum(caught_up.silences()) < sum(whole.silences()) / 2
    # first audio is not later, and the whole answer is spoken, word for word
    assert caught_up.first_audio <= whole.first_audio + 0.001
    spoken = "".join("".join(r.spoken) for r in svc.streams)
    assert " ".join(spoken.split()) == SHORT_ANSWER
