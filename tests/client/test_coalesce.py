"""Plain text that cannot start speech is merged into fewer TextEvents, judged on the wire.

A recording transport wraps the in-memory one (:mod:`tests.session.recording`): the tests read
the TextEvents the client signed and sent, with the virtual time each crossed, and what the
local service received, billed and spoke. A long linger (1 s) shows that boundaries, flushes,
SSML, keep-alives and the end of input release held text at once, not the linger.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.client.coalesce import MAX_HELD_CHARS, MAX_LINGER
from polly_pipeline.client.stream import SpeechSynthesisStream
from polly_pipeline.errors import (
    ConfigurationError,
    ParameterValidationError,
    ServiceQuotaExceededException,
    StreamStateError,
)
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.in_memory import MEMORY_ENDPOINT_URL
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.events import AudioEvent, StreamClosedEvent, TextEvent
from polly_pipeline.testing import virtual_clock
from tests.conftest import TEST_TIMEOUTS
from tests.session.recording import Recording

#: A linger no test waits for: what goes out before it was released by the text itself.
LONG = MAX_LINGER
WORDS = [
    ("" if i == 0 else " ") + w for i, w in enumerate(["the", "answer", "keeps", "coming"] * 5)
]


class Wire:
    """A client on ``service``'s handler whose sent TextEvents are recorded."""

    def __init__(self, coalesce: float, idle: float = 30.0) -> None:
        self.service = LocalPollyService(LocalServiceConfig(inbound_event_timeout=idle))
        self.recording = Recording(self.service, TEST_TIMEOUTS)
        self.client = PollyStreamingClient(
            region=self.service.region,
            endpoint_url=MEMORY_ENDPOINT_URL,
            credentials=self.service.credentials,
            timeouts=TEST_TIMEOUTS,
            transport=self.recording,
            coalesce=coalesce,
        )

    def events(self) -> list[TextEvent]:
        return self.recording.text_events()

    def texts(self) -> list[str]:
        return [e.text for e in self.events()]

    def timed(self) -> list[tuple[float, TextEvent]]:
        return self.recording.timed_text_events()

    async def sent(self, count: int) -> list[TextEvent]:
        """Once ``count`` TextEvents crossed (yielding to the loop, not waiting on timers)."""
        for _ in range(1000):
            if len(self.events()) >= count:
                break
            await asyncio.sleep(0)
        return self.events()


@asynccontextmanager
async def open_wire(
    coalesce: float = LONG, idle: float = 30.0
) -> AsyncIterator[tuple[Wire, SpeechSynthesisStream]]:
    wire = Wire(coalesce, idle)
    async with wire.client, wire.client.open_stream(voice_id="Joanna") as stream:
        yield wire, stream


async def finish(stream: SpeechSynthesisStream) -> list[AudioEvent | StreamClosedEvent]:
    await stream.end_input()
    return [e async for e in stream if isinstance(e, AudioEvent | StreamClosedEvent)]


def now() -> float:
    return asyncio.get_running_loop().time()


@virtual_clock
async def test_word_tokens_become_fewer_events_with_exactly_the_same_text() -> None:
    async with open_wire(coalesce=0.05) as (wire, stream):
        for word in WORDS:  # a fast model: a token every 2 ms
            await stream.send_text(word)
            await asyncio.sleep(0.002)
        await stream.send_text(".", flush=True)
        events = await finish(stream)
    texts = wire.texts()
    assert "".join(texts) == "".join(WORDS) + "."
    assert len(texts) <= len(WORDS) // 10  # 25 tokens fit in one 50 ms linger
    assert stream.stats.text_events == len(WORDS) + 1
    assert stream.stats.wire_text_events == len(texts)
    closed = events[-1]
    assert isinstance(closed, StreamClosedEvent)
    assert closed.request_characters == len("".join(WORDS)) + 1
    assert wire.service.streams[-1].spoken == ["".join(WORDS) + "."]


@pytest.mark.parametrize("token", [".", ",", "。", "、", "!", " well;", " (so", " end\n", "\n"])
@virtual_clock
async def test_a_possible_boundary_sends_the_held_text_with_it_at_once(token: str) -> None:
    async with open_wire() as (wire, stream):
        await stream.send_text("Hello")
        await stream.send_text(" there")
        assert await wire.sent(1) == []  # held: no boundary yet
        at = now()
        await stream.send_text(token)
        events = await wire.sent(1)
        if token.isspace():  # whitespace alone is not billed: it follows as its own event
            assert [e.text for e in events] == ["Hello there", token]
        else:
            assert [e.text for e in events] == ["Hello there" + token]
        assert {t for t, _ in wire.timed()} == {at}  # the same instant: no linger
        await finish(stream)


@virtual_clock
async def test_the_flush_carries_all_earlier_text_so_audio_starts_no_later() -> None:
    # Without coalescing the words travel ahead of the flush and the service speaks them when
    # the flush arrives; with it they travel in the flush event itself, at the same instant.
    async with open_wire() as (wire, stream):
        for word in ["Good", " morning", " to", " you"]:
            await stream.send_text(word)
        at = now()
        await stream.flush()
        [event] = await wire.sent(1)
        assert event == TextEvent("Good morning to you", "text", flush=True)
        assert wire.timed()[0][0] == at
        first = await anext(aiter(stream))  # the flushed sentence's audio, before the close
        assert isinstance(first, AudioEvent)
        await finish(stream)
    assert wire.service.streams[-1].spoken == ["Good morning to you"]


@virtual_clock
async def test_ssml_is_never_merged_and_held_text_goes_before_it() -> None:
    ssml = "<speak>Hi <break time='100ms'/> there</speak>"
    async with open_wire() as (wire, stream):
        await stream.send_text("Hello")
        await stream.send_text(" you")
        await stream.send_ssml(ssml)
        await stream.send_text(" and")
        await stream.send_text(" more")
        await finish(stream)
    assert wire.events() == [
        TextEvent("Hello you"),
        TextEvent(ssml, "ssml"),
        TextEvent(" and more"),
    ]


@virtual_clock
async def test_end_input_sends_the_held_text_and_nothing_is_billed_twice() -> None:
    async with open_wire() as (wire, stream):
        for word in WORDS:
            await stream.send_text(word)
        assert await wire.sent(1) == []
        events = await finish(stream)
    assert wire.texts() == ["".join(WORDS)]
    closed = events[-1]
    assert isinstance(closed, StreamClosedEvent)
    assert closed.request_characters == len("".join(WORDS))


@virtual_clock
async def test_the_linger_sends_held_text_when_nothing_follows() -> None:
    async with open_wire(coalesce=0.05) as (wire, stream):
        at = now()
        await stream.send_text("Hello")
        await asyncio.sleep(0.01)
        await stream.send_text(" there")
        await asyncio.sleep(0.2)  # nothing more comes
        assert [(t - at, e.text) for t, e in wire.timed()] == [(pytest.approx(0.05), "Hello there")]
        await stream.send_text(" again")
        await finish(stream)
    assert wire.texts() == ["Hello there", " again"]


@virtual_clock
async def test_keep_alives_stay_empty_events_of_their_own() -> None:
    async with open_wire() as (wire, stream):
        await stream.send_text("Hello")
        await stream.keep_alive()
        await stream.send_text(" there")
        await stream.send_text(" ")  # whitespace only: not billed, so never merged into text
        await stream.send_text("friend")
        events = await finish(stream)
    assert wire.texts() == ["Hello", "", " there", " ", "friend"]
    record = wire.service.streams[-1]
    assert record.keep_alives == 2
    closed = events[-1]
    assert isinstance(closed, StreamClosedEvent)
    assert closed.request_characters == len("Hello therefriend")


@virtual_clock
async def test_a_bad_send_is_refused_at_once_and_held_text_survives_it() -> None:
    async with open_wire() as (wire, stream):
        await stream.send_text("Hello")
        with pytest.raises(ParameterValidationError):
            await stream.send_text("x" * 6001)
        with pytest.raises(ParameterValidationError):
            await stream.send_text(42)  # type: ignore[arg-type]
        await stream.send_text(" there")
        await finish(stream)
        with pytest.raises(StreamStateError):
            await stream.send_text(" late")  # holdable text after the end: refused too
    assert wire.texts() == ["Hello there"]


@virtual_clock
async def test_held_text_never_grows_past_its_cap() -> None:
    word = " lorem" * 30  # 180 characters, no boundary
    async with open_wire() as (wire, stream):
        for _ in range(20):
            await stream.send_text(word)
        await finish(stream)
    texts = wire.texts()
    assert "".join(texts) == word * 20
    assert all(len(t) <= MAX_HELD_CHARS for t in texts)
    assert len(texts) == 4  # 5 words of 180 fit in 1,000 characters


@virtual_clock
async def test_zero_turns_coalescing_off() -> None:
    async with open_wire(coalesce=0) as (wire, stream):
        for word in WORDS[:5]:
            await stream.send_text(word)
        await finish(stream)
    assert wire.texts() == WORDS[:5]


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "0.05", True, 1.5])
def test_a_bad_linger_is_a_configuration_error(bad: object) -> None:
    service = LocalPollyService(LocalServiceConfig())
    with pytest.raises(ConfigurationError, match="coalesce"):
        PollyStreamingClient(
            region=service.region,
            endpoint_url=MEMORY_ENDPOINT_URL,
            credentials=service.credentials,
            coalesce=bad,  # type: ignore[arg-type]
        )


@virtual_clock
async def test_held_text_is_dropped_quietly_when_the_stream_is_closed() -> None:
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    async with open_wire(coalesce=0.05) as (wire, stream):
        await stream.send_text("Hello")
        await stream.aclose()
        await asyncio.sleep(0.2)  # past the linger
    assert wire.texts() == []
    assert errors == []


@virtual_clock
async def test_a_stream_that_fails_while_text_is_held_drops_it_and_says_why() -> None:
    # Held text is no input event: a service ending idle streams after 0.5 s ends this one.
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    async with open_wire(coalesce=LONG, idle=0.5) as (wire, stream):
        await stream.send_text("Hello")
        with pytest.raises(ServiceQuotaExceededException):
            async for _ in stream:
                pass
        with pytest.raises(ServiceQuotaExceededException):
            await stream.send_text(" there")  # refused at once, with the failure
        await asyncio.sleep(2 * LONG)  # past the linger: nothing is sent, nothing raises
    assert wire.texts() == []
    assert wire.service.streams[-1].outcome != "open"
    assert errors == []


async def test_over_tls_tokens_are_merged_and_spoken_whole(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    async with polly.open_stream(voice_id="Joanna", output_format="pcm") as stream:
        for word in WORDS:
            await stream.send_text(word)
        await stream.send_text(" now.")
        events = await finish(stream)
    assert stream.stats.wire_text_events < stream.stats.text_events
    closed = events[-1]
    assert isinstance(closed, StreamClosedEvent)
    assert closed.request_characters == len("".join(WORDS) + " now.")
    assert sum(len(e.audio_chunk) for e in events if isinstance(e, AudioEvent)) > 16000
    texts = local_polly.streams[-1].texts
    assert "".join(texts) == "".join(WORDS) + " now."
    assert len(texts) < len(WORDS)
