"""SpeechSession against the local service with Polly's limits scaled down (1 s idle, 3 s life).

Most tests reach the service's handler through the in-memory transport (no sockets, no TLS);
the ones about connections and the pool run end to end over real TLS.
"""

from __future__ import annotations

import asyncio

import pytest

from polly_pipeline.audio import AudioChunk
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError, SessionError, ValidationException
from polly_pipeline.local.config import Fault, FaultPlan, LocalServiceConfig
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session.events import (
    RetryPolicy,
    StreamRetry,
    StreamRollover,
    TurnCompleted,
)
from polly_pipeline.session.session import SpeechSession, Turn
from polly_pipeline.testing import virtual_clock
from tests.conftest import TEST_TIMEOUTS
from tests.session.recording import recording_client

FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.05, max_delay=0.3)


def sentences(turn: int, count: int) -> list[str]:
    return [f"Turn {turn} says sentence {i} now. " for i in range(count)]


def service(**kw: object) -> LocalPollyService:
    """The service with Polly's limits scaled down (not started: reach it in memory)."""
    config = LocalServiceConfig(
        inbound_event_timeout=1.0,
        max_stream_duration=3.0,
        **kw,  # type: ignore[arg-type]
    )
    return LocalPollyService(config)


def session_for(client: PollyStreamingClient, **kw: object) -> SpeechSession:
    options: dict[str, object] = {
        "voice_id": "Joanna",
        "keepalive_interval": 0.3,
        "max_stream_age": 1.5,
        "retry": FAST_RETRY,
        "seed": 3,
    }
    options.update(kw)
    return SpeechSession(client, **options)  # type: ignore[arg-type]


async def speak_turn(
    session: SpeechSession, texts: list[str], gap: float = 0.0
) -> tuple[Turn, list[AudioChunk]]:
    turn = await session.begin_turn()

    async def feed() -> None:
        for i, text in enumerate(texts):
            await turn.send(text, flush=i == 0)
            if gap:
                await asyncio.sleep(gap)
        await turn.finish()

    feeder = asyncio.create_task(feed())
    chunks = [chunk async for chunk in turn.audio()]
    await feeder
    return turn, chunks


def spoken_in(svc: LocalPollyService) -> str:
    """Everything the service finished speaking, in stream order."""
    return "".join("".join(r.spoken) for r in svc.streams)


@virtual_clock
async def test_long_conversation_survives_idle_gaps_and_stream_limits() -> None:
    loop = asyncio.get_running_loop()
    svc = service()
    client, recording = recording_client(svc)
    async with client:
        started = loop.time()
        async with session_for(client) as session:
            all_chunks: list[AudioChunk] = []
            for turn_id in range(4):
                texts = sentences(turn_id, 6)
                turn, chunks = await speak_turn(session, texts, gap=0.25)
                all_chunks += chunks
                assert turn.metrics.characters_billed == sum(map(len, texts))
                assert turn.metrics.retries == 0
                assert {c.turn_id for c in chunks} == {turn_id}
                await asyncio.sleep(1.6)  # idle: longer than the service's inbound timeout
            total_streamed = sum(m.audio_seconds for m in session.turns)
        lifetime = loop.time() - started
    # every sentence spoken exactly once, in order, across several stream lifetimes
    expected = "".join(t for turn_id in range(4) for t in sentences(turn_id, 6))
    assert spoken_in(svc) == expected
    assert lifetime > 3 * svc.config.max_stream_duration  # outlived several stream limits
    assert sum(m.rollovers for m in session.turns) >= 2
    assert any(isinstance(e, StreamRollover) for e in session.history)
    # one session-wide count: no chunk lost or repeated between its numbering and the listener
    sequences = [c.sequence for c in all_chunks]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    # the listener got exactly the audio the streams carried, in stream order
    delivered = b"".join(c.data for c in all_chunks)
    assert delivered == b"".join(recording.audio_by_stream())
    # the reported seconds are the decoder's: 16 kHz 16-bit mono PCM
    assert total_streamed == pytest.approx(len(delivered) / 32000)
    assert not any(r.outcome.startswith("input-stream") for r in svc.streams)


@virtual_clock
async def test_random_faults_lose_no_segment() -> None:
    kinds = tuple(
        Fault(kind, at)  # type: ignore[arg-type]
        for kind in ("reset", "drop", "goaway", "throttle", "service_failure")
        for at in ("before_headers", "first_event", "mid_stream")
    )
    plan = FaultPlan(rate=0.5, kinds=kinds, seed=2)
    svc = service(faults=plan)
    async with (
        memory_client(svc, timeouts=TEST_TIMEOUTS) as client,
        session_for(client, max_stream_age=60.0) as session,
    ):
        for turn_id in range(5):
            texts = sentences(turn_id, 5)
            turn, chunks = await speak_turn(session, texts)
            assert chunks, f"turn {turn_id} produced no audio"
            spoken = spoken_in(svc)
            for text in texts:  # nothing skipped
                assert text in spoken, (text, turn.metrics)
    retries = [e for e in session.history if isinstance(e, StreamRetry)]
    assert plan.injected, "the plan injected no fault"
    assert retries
    # the documented guarantee: a retry resends at most the segment in flight and the one
    # before it, so each segment is spoken at most a few times over all the faults
    spoken = spoken_in(svc)
    for turn_id in range(5):
        for text in sentences(turn_id, 5):
            assert spoken.count(text) <= 1 + sum(1 for r in retries if r.turn_id == turn_id)


async def test_interrupt_stops_audio_at_once_and_leaves_nothing_behind() -> None:
    async with service() as svc, svc.client(timeouts=TEST_TIMEOUTS) as client:
        before = asyncio.all_tasks()
        session = session_for(client, pacing=1.0, max_stream_age=60.0)
        await session.start()
        turn = await session.begin_turn()
        for text in sentences(0, 12):
            await turn.send(text)
        await turn.finish()
        audio = turn.audio()
        first = await asyncio.wait_for(anext(audio), 5)
        report = await turn.interrupt()
        after = [chunk async for chunk in audio]
        assert after == []  # no stale chunk once interrupt() returned
        assert first.turn_id == 0
        assert 0 < report.characters_sent < sum(map(len, sentences(0, 12)))  # pacing held text
        assert report.text_sent.startswith("Turn 0 says sentence 0")
        assert turn.metrics.interrupted
        # the session is ready for the next turn, on a warm stream, with no stale audio
        next_turn, chunks = await speak_turn(session, ["Fresh start here. "])
        assert {c.turn_id for c in chunks} == {1}
        assert next_turn.metrics.time_to_first_audio is not None
        await session.aclose()
        await asyncio.sleep(0.1)
        assert asyncio.all_tasks() - before == set()
    assert client.pool.stats().connections_open == 0


@virtual_clock
async def test_interrupt_reports_exactly_what_was_sent_and_heard() -> None:
    svc = service()
    async with memory_client(svc, timeouts=TEST_TIMEOUTS) as client:
        session = session_for(client, pacing=1.0, max_stream_age=60.0)
        await session.start()
        rate = session.seconds_per_character
        for heard_for in (0.5, 5.0):  # the listener stops early; the listener runs dry
            turn = await session.begin_turn()
            texts = sentences(turn.turn_id, 12)
            for text in texts:
                await turn.send(text)
            await turn.finish()
            audio = turn.audio()
            delivered = 0.0
            while delivered < 1.0:
                delivered += (await anext(audio)).seconds
            await asyncio.sleep(heard_for)  # played in real time since the first chunk
            report = await turn.interrupt()
            on_the_wire = "".join(t for r in svc.streams for t in r.texts if t.strip())
            assert on_the_wire.endswith(report.text_sent)  # what went out, no more
            assert report.text_sent == "".join(texts)[: report.characters_sent]
            assert report.characters_sent < len("".join(texts))  # pacing held the rest
            assert report.audio_seconds_delivered == pytest.approx(delivered)
            expected = min(heard_for, delivered)  # never more than was delivered
            assert report.seconds_heard == pytest.approx(expected)
            assert report.characters_heard == int(expected / rate)
        await session.aclose()


@virtual_clock
async def test_keep_alive_holds_the_warm_stream_through_a_long_pause() -> None:
    svc = service()
    async with (
        memory_client(svc, timeouts=TEST_TIMEOUTS) as client,
        session_for(client, max_stream_age=60.0) as session,
    ):
        await asyncio.sleep(2.5)  # 2.5 times the inbound timeout, nothing to say
        turn, chunks = await speak_turn(session, ["Still warm. "])
        assert chunks
        assert turn.metrics.retries == 0
        assert turn.metrics.streams == 1
    assert not any(r.outcome == "ServiceQuotaExceededException" for r in svc.streams)
    assert sum(r.keep_alives for r in svc.streams) >= 3
    assert all(r.request_characters in (0, len("Still warm. ")) for r in svc.streams)


@virtual_clock
async def test_the_retry_bound_ends_in_a_clear_error() -> None:
    loop = asyncio.get_running_loop()
    plan = FaultPlan(rate=1.0, kinds=(Fault("service_failure", "first_event"),), seed=1)
    svc = service(faults=plan)
    async with memory_client(svc, timeouts=TEST_TIMEOUTS) as client:
        session = session_for(client, retry=RetryPolicy(max_attempts=3, base_delay=0.01))
        await session.start()
        started = loop.time()
        with pytest.raises(SessionError) as exc:
            await speak_turn(session, ["Never spoken. "])
        assert "3 times in a row" in str(exc.value)
        assert "ServiceFailureException" in str(exc.value)
        assert loop.time() - started < 10
        await session.aclose()


async def test_non_retryable_errors_surface_unchanged(local_polly: LocalPollyService) -> None:
    from polly_pipeline.local.voices import all_voices

    standard = next(v.id for v in all_voices().values() if "generative" not in v.supported_engines)
    async with local_polly.client(timeouts=TEST_TIMEOUTS) as client:
        session = SpeechSession(client, voice_id=standard)
        with pytest.raises(ValidationException):
            await session.start()
        await session.aclose()


async def test_each_stream_gets_fresh_credentials_and_sessions_share_a_pool(
    local_polly: LocalPollyService,
) -> None:
    calls = 0

    def provider():  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return local_polly.credentials

    async with local_polly.client(credentials=provider, timeouts=TEST_TIMEOUTS) as client:
        sessions = [session_for(client, max_stream_age=60.0) for _ in range(4)]
        await asyncio.gather(*(s.start() for s in sessions))

        async def one(s: SpeechSession, n: int) -> list[AudioChunk]:
            return (await speak_turn(s, sentences(n, 2)))[1]

        results = await asyncio.gather(*(one(s, n) for n, s in enumerate(sessions)))
        assert all(results)
        opened = sum(1 for s in sessions for e in s.history if type(e).__name__ == "StreamOpened")
        assert calls == opened
        assert client.pool.stats().connections_created <= 2
        await asyncio.gather(*(s.aclose() for s in sessions))


async def test_turn_rules(polly: PollyStreamingClient) -> None:
    from polly_pipeline.errors import ParameterValidationError, StreamStateError

    async with SpeechSession(
        polly, voice_id="Joanna", output_format="mp3", keepalive_interval=0.3
    ) as session:
        turn = await session.begin_turn()
        with pytest.raises(StreamStateError, match="previous turn"):
            await session.begin_turn()
        with pytest.raises(ParameterValidationError, match="6001"):
            await turn.send("x" * 6001)
        await turn.send("Short answer.")
        await turn.finish()
        with pytest.raises(StreamStateError, match="finished"):
            await turn.send("more")
        chunks = [c async for c in turn.audio()]
        assert chunks[0].format.output_format == "mp3"
        assert chunks[0].format.sample_rate == 24000
        assert 0.5 < sum(c.seconds for c in chunks) < 3.0  # mp3 frames counted exactly
        metrics = await turn.wait()
        assert metrics.characters_billed == len("Short answer.")


async def test_history_and_turns_keep_a_bounded_window(polly: PollyStreamingClient) -> None:
    async with SpeechSession(
        polly, voice_id="Joanna", keepalive_interval=0.3, history_limit=3
    ) as session:
        for _ in range(6):
            turn = await session.begin_turn()
            await turn.send("Cut short. ", flush=True)
            await turn.interrupt()
        assert session.turns_started == 6
        assert [m.turn_id for m in session.turns] == [3, 4, 5]
        assert len(session.history) == 3
        last = session.history[-1]
        assert isinstance(last, TurnCompleted)
        assert last.metrics.turn_id == 5
        next_turn = await session.begin_turn()
        assert next_turn.turn_id == 6
        await next_turn.interrupt()
    with pytest.raises(ConfigurationError, match="history_limit"):
        SpeechSession(polly, voice_id="Joanna", history_limit=0)
