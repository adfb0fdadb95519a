"""The pipeline end to end: a paced token source, the real stages, the local service, sinks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiostream import pipe, stream

from polly_pipeline.audio import decode_audio, duration_seconds
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError, ParameterValidationError
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.pipeline import FlushPolicy, Pipeline, clean, segment, speak
from polly_pipeline.session import AudioChunk, SpeechSession
from polly_pipeline.sinks import MemorySink, TeeSink, WavFileSink
from polly_pipeline.text.clean import clean_markdown

ANSWER = (
    "## Why is the sky blue?\n\n"
    "Sunlight holds **every colour**. Dr. Rayleigh showed, e.g. in 1871, that short waves "
    "scatter about 5.5 times more than long ones.\n\n"
    "- Blue light scatters the most.\n"
    "- Red light passes straight through.\n\n"
    "Read more at https://en.wikipedia.org/wiki/Rayleigh_scattering today. 🌈 That's all!"
)


async def tokens(
    text: str, *, first: float = 0.2, gap: float = 0.01, stall_at: int | None = None
) -> AsyncIterator[str]:
    """Yield ``text`` in 1-4 character pieces, like a model streaming its answer."""
    await asyncio.sleep(first)
    i = 0
    sizes = [1, 3, 2, 4]
    while i < len(text):
        n = sizes[i % 4]
        if stall_at is not None and i <= stall_at < i + n:
            await asyncio.sleep(1.2)
        yield text[i : i + n]
        i += n
        await asyncio.sleep(gap)


def session_for(client: PollyStreamingClient, **kw: object) -> SpeechSession:
    """A session whose keep-alives beat the test service's 1-second inbound timeout."""
    return SpeechSession(client, keepalive_interval=0.3, **kw)  # type: ignore[arg-type]


def spoken_text(svc: LocalPollyService) -> str:
    return "".join("".join(r.texts) for r in svc.streams)


async def test_answer_is_spoken_while_the_source_is_still_writing(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    sink = MemorySink()
    async with session_for(polly, voice_id="Joanna", output_format="pcm") as session:
        report = await Pipeline(session).run(tokens(ANSWER, gap=0.02), sink)
    assert report.audio_started_before_source_finished, report.summary()
    # nothing lost, nothing duplicated: the service got exactly the cleaned answer
    assert spoken_text(local_polly) == clean_markdown(ANSWER)
    assert "**" not in spoken_text(local_polly)
    assert "at en.wikipedia.org today." in spoken_text(local_polly)  # the host, not the path
    seconds = duration_seconds(decode_audio(sink.data, "pcm", 16000), 16000)
    assert seconds == pytest.approx(report.audio_seconds, abs=0.01)
    assert 10 < seconds < 40
    assert report.turn is not None
    assert report.turn.characters_billed == len(clean_markdown(ANSWER))
    assert report.tokens_in > 50
    assert report.segments_sent >= 4


async def test_adaptive_flush_forces_the_first_segment_and_a_stall(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    text = (
        "The first sentence arrives quickly here. The second one is sent without a flush. "
        "Then the model thinks for a while. Done."
    )
    stall_at = text.index("Then") + 4  # the model stops mid-sentence, after unflushed text
    sink = MemorySink()
    async with session_for(polly, voice_id="Joanna", output_format="pcm") as session:
        report = await Pipeline(session, flush=FlushPolicy(stall_after=0.3)).run(
            tokens(text, stall_at=stall_at), sink
        )
    record = next(r for r in local_polly.streams if r.texts)
    assert report.flushes >= 2  # the first segment, then the stall
    assert record.flushes >= 2
    assert "".join(record.texts) == text
    assert report.audio_started_before_source_finished


async def test_every_segment_mode_flushes_each_one(polly: PollyStreamingClient) -> None:
    text = "One sentence is here now. Another sentence follows it. And a third one ends it."
    async with session_for(polly, voice_id="Joanna") as session:
        report = await Pipeline(session, flush=FlushPolicy("every_segment")).run(
            tokens(text, first=0), MemorySink()
        )
    assert report.flushes == report.segments_sent >= 2


async def test_a_source_error_keeps_the_audio_so_far(
    polly: PollyStreamingClient, local_polly: LocalPollyService, tmp_path: Path
) -> None:
    class ModelWentAway(Exception):
        pass

    async def broken() -> AsyncIterator[str]:
        async for piece in tokens("This part made it out before the failure. ", first=0):
            yield piece
        raise ModelWentAway("connection to the model was lost")

    out = tmp_path / "partial.wav"
    async with session_for(polly, voice_id="Joanna", output_format="pcm") as session:
        pipeline = Pipeline(session)
        with pytest.raises(ModelWentAway, match="connection to the model was lost"):
            await pipeline.run(broken(), WavFileSink(out))
    import wave

    with wave.open(str(out)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds > 1.0  # the text before the failure was spoken and kept
    assert pipeline.last_report is not None
    assert pipeline.last_report.audio_seconds == pytest.approx(seconds, abs=0.01)
    assert "before the failure" in spoken_text(local_polly)


async def test_stages_compose_with_the_pipe_syntax(polly: PollyStreamingClient) -> None:
    async with session_for(polly, voice_id="Matthew", output_format="pcm") as session:
        audio = (
            stream.iterate(tokens("**Bold** claims. Plain words follow them here.", first=0))
            | clean.pipe()
            | segment.pipe()
            | speak.pipe(session)
        )
        async with audio.stream() as chunks:
            got = [chunk async for chunk in chunks]
    assert got
    assert {c.turn_id for c in got} == {0}
    assert sum(c.seconds for c in got) > 1.0


async def test_stopping_early_interrupts_the_turn(polly: PollyStreamingClient) -> None:
    async with session_for(polly, voice_id="Joanna", output_format="pcm") as session:
        audio = stream.iterate(tokens(ANSWER, first=0)) | clean.pipe() | segment.pipe()
        speech = audio | speak.pipe(session)
        async with speech.stream() as chunks:
            async for _ in chunks:
                break  # the listener barged in
        assert session.turns[-1].interrupted
        # the session is ready for the next answer
        report = await Pipeline(session).run("Next answer.", MemorySink())
        assert report.audio_seconds > 0.3


async def test_bad_input_is_named(polly: PollyStreamingClient) -> None:
    with pytest.raises(ParameterValidationError, match="voice_id"):
        SpeechSession(polly, voice_id="Nobody")
    async with session_for(polly, voice_id="Joanna") as session:
        with pytest.raises(ConfigurationError, match="at least one sink"):
            await Pipeline(session).run("hi")
        with pytest.raises(ConfigurationError, match="must yield strings"):
            await Pipeline(session).run([b"bytes"], MemorySink())  # type: ignore[list-item]
        with pytest.raises(ConfigurationError, match="flush mode"):
            FlushPolicy("sometimes")  # type: ignore[arg-type]


class _Player(MemorySink):
    """A sink with the optional ``interrupt()``: records the order of the calls it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.playing = asyncio.Event()

    async def _write(self, chunk: AudioChunk) -> None:
        await super()._write(chunk)
        self.playing.set()

    async def interrupt(self) -> None:
        self.calls.append("interrupt")

    async def close(self) -> None:
        self.calls.append("close")
        await super().close()


async def test_cancelling_a_run_interrupts_players_before_closing_them(
    polly: PollyStreamingClient,
) -> None:
    player, plain = _Player(), MemorySink()
    teed = _Player()
    async with session_for(polly, voice_id="Joanna", output_format="pcm") as session:
        run = asyncio.create_task(
            Pipeline(session).run(tokens(ANSWER, first=0, gap=0.05), player, plain, TeeSink(teed))
        )
        async with asyncio.timeout(10):
            await player.playing.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert player.calls == ["interrupt", "close"]
        assert teed.calls == ["interrupt", "close"]  # TeeSink passes it on
        assert plain.closed  # a sink without interrupt() is just closed
        assert session.turns[-1].interrupted
        # a run that completes drains: no interrupt
        finished = _Player()
        await Pipeline(session).run("Next answer.", finished)
        assert finished.calls == ["close"]
        assert finished.data


async def test_an_aiostream_pipeline_is_a_source(polly: PollyStreamingClient) -> None:
    shout = stream.iterate(["Hello ", "there. ", "Bye."]) | pipe.map(str.upper)
    sink = MemorySink()
    async with session_for(polly, voice_id="Joanna", output_format="pcm") as session:
        report = await Pipeline(session).run(shout, sink)
    assert report.tokens_in == 3
    assert report.characters_sent == len("HELLO THERE. BYE.")
    assert (sink.duration_seconds() or 0) > 0.5


class _DrainingPlayer(_Player):
    """A player whose close() plays out its queue (slowly) unless interrupted first."""

    def __init__(self) -> None:
        super().__init__()
        self.draining = asyncio.Event()
        self.stopped = asyncio.Event()

    async def interrupt(self) -> None:
        await super().interrupt()
        self.stopped.set()

    async def close(self) -> None:
        self.calls.append("close")
        self.draining.set()
        async with asyncio.timeout(30):
            await self.stopped.wait()  # "playing out the queue"
        await MemorySink.close(self)


async def test_a_barge_in_while_players_drain_interrupts_them(polly: PollyStreamingClient) -> None:
    player = _DrainingPlayer()
    async with session_for(polly, voice_id="Joanna", output_format="pcm") as session:
        run = asyncio.create_task(Pipeline(session).run("A short answer.", player))
        async with asyncio.timeout(10):
            await player.draining.wait()  # all audio delivered; the player is playing it out
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(run, 5)
    assert player.calls == ["close", "interrupt", "close"]
    assert player.closed


async def test_the_segmenter_follows_the_voices_language(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    # "am 5. Mai" is an ordinal date in German; English rules would cut after "5."
    text = "Gern. Er kam am 5. Mai nach Hause, z. B. mit dem Zug. Dann ging er schlafen."
    async with session_for(polly, voice_id="Vicki", output_format="pcm") as session:
        pipeline = Pipeline(session)
        assert pipeline.segmenter.language == "de-DE"
        report = await pipeline.run(tokens(text, first=0), MemorySink())
    record = next(r for r in local_polly.streams if r.texts)
    assert "".join(record.texts) == text
    assert record.texts[0] == "Gern. "  # the first sentence went out alone, however short
    assert not any(t.endswith(("5. ", "z. ", "B. ")) for t in record.texts), record.texts
    assert report.audio_seconds > 1


async def test_a_japanese_answer_streams_sentence_by_sentence(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    # no whitespace after 。: the cut must not wait for any
    text = "はい、わかりました。音声は文ごとに流れます。「すごい！」と彼は言った。以上です。"
    async with session_for(polly, voice_id="Kazuha", output_format="pcm") as session:
        report = await Pipeline(session).run(tokens(text, first=0, gap=0.05), MemorySink())
    record = next(r for r in local_polly.streams if r.texts)
    assert "".join(record.texts) == text
    assert record.texts[0] == "はい、わかりました。"
    assert "「すごい！」と彼は言った。" in "".join(record.texts[1:])  # the quote is never cut
    assert not any(t.endswith("！") for t in record.texts)
    assert report.audio_started_before_source_finished
