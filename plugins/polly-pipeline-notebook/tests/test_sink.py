"""NotebookSink under a plain IPython shell: what a notebook front end would receive."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from nbaudio import meta, pushes, recording, rms
from polly_pipeline_notebook import NotebookSink

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError, StreamStateError
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.plugins import load
from polly_pipeline.session import AudioChunk, AudioFormat, SpeechSession
from polly_pipeline.sinks import MemorySink

Outputs = Callable[[], list[dict[str, Any]]]
PCM16K = AudioFormat("pcm", 16000)
TEXT = "The first sentence is heard at once. The second one follows it. And that is all."


def display_id(output: dict[str, Any]) -> str:
    return str(output["transient"]["display_id"])


async def test_a_run_shows_the_player_then_pushes_every_chunk_then_the_recording(
    polly: PollyStreamingClient, displayed: Outputs
) -> None:
    sink = NotebookSink(title="Test answer")
    memory = MemorySink()
    async with SpeechSession(polly, voice_id="Joanna", output_format="pcm") as session:
        report = await Pipeline(session, on_progress=sink.on_progress).run(TEXT, sink, memory)
    outputs = displayed()
    kinds = [meta(o)["kind"] for o in outputs]
    # the player first, then the chunks, the end of the stream, and the recording in its place
    assert kinds[0] == "player"
    assert not outputs[0]["update"]
    assert set(kinds[1:-2]) == {"chunk"}
    assert kinds[-2:] == ["end", "answer"]
    assert display_id(outputs[-1]) == display_id(outputs[0]) == sink.player_display_id
    assert outputs[-1]["update"]  # the live player is replaced, not followed
    chunk_outputs = outputs[1:-2]
    assert {display_id(o) for o in chunk_outputs} == {sink.push_display_id}
    assert [o["update"] for o in chunk_outputs] == [False] + [True] * (len(chunk_outputs) - 1)

    carried = pushes(outputs)
    assert [p.seq for p in carried] == list(range(len(carried)))
    assert {p.sample_rate for p in carried} == {16000}
    pcm = b"".join(p.pcm for p in carried)
    assert pcm == memory.data  # every byte reached the player, in order
    assert sum(p.seconds for p in carried) == pytest.approx(report.audio_seconds, abs=1e-6)
    assert rms(pcm) > 300  # speech, not silence
    # each push says when it happened in the run
    assert carried[0].meta["elapsed"] == pytest.approx(report.time_to_first_audio, abs=0.05)

    wav_pcm, rate = recording(outputs[-1])
    assert (wav_pcm, rate) == (memory.data, 16000)
    assert "Test answer" in outputs[-1]["data"]["text/html"]
    assert sink.seconds == pytest.approx(report.audio_seconds, abs=1e-6)


async def test_chunks_split_inside_a_sample_are_pushed_as_whole_samples(
    displayed: Outputs,
) -> None:
    sink = NotebookSink()
    data = bytes(range(1, 11))  # five samples
    for seq, piece in enumerate((data[:3], data[3:4], data[4:])):
        await sink.write(AudioChunk(piece, PCM16K, turn_id=0, sequence=seq))
    await sink.close()
    carried = pushes(displayed())
    assert [len(p.pcm) % 2 for p in carried] == [0] * len(carried)
    assert b"".join(p.pcm for p in carried) == data
    assert recording(displayed()[-1]) == (data, 16000)


async def test_interrupt_tells_the_player_to_stop_and_keeps_what_was_received(
    displayed: Outputs,
) -> None:
    sink = NotebookSink()
    await sink.write(AudioChunk(b"\x10\x00" * 800, PCM16K, turn_id=0, sequence=0))
    await sink.interrupt()
    await sink.close()
    outputs = displayed()
    kinds = [meta(o)["kind"] for o in outputs]
    assert kinds == ["player", "chunk", "stop", "answer"]
    assert ".stop()" in outputs[2]["data"]["text/html"]
    assert recording(outputs[-1]) == (b"\x10\x00" * 800, 16000)


async def test_a_sink_without_audio_shows_nothing(displayed: Outputs) -> None:
    sink = NotebookSink()
    await sink.close()
    await sink.close()
    assert displayed() == []
    with pytest.raises(StreamStateError):
        await sink.write(AudioChunk(b"\0\0", PCM16K, turn_id=0, sequence=0))


async def test_compressed_audio_needs_the_shared_decoder_or_says_to_use_pcm(
    polly: PollyStreamingClient, displayed: Outputs
) -> None:
    sinks = importlib.import_module("polly_pipeline.sinks")
    sink = NotebookSink()
    async with SpeechSession(polly, voice_id="Joanna", output_format="mp3") as session:
        if not hasattr(sinks, "StreamDecoder"):
            with pytest.raises(ConfigurationError, match='output_format="pcm"'):
                await Pipeline(session).run(TEXT, sink)
            return
        report = await Pipeline(session).run(TEXT, sink)
    carried = pushes(displayed())
    # mp3 frames hold a little padding, so the decoded length is close, not exact
    assert sum(p.seconds for p in carried) == pytest.approx(report.audio_seconds, abs=0.1)
    assert rms(b"".join(p.pcm for p in carried)) > 300


def test_the_sink_is_registered_as_the_notebook_plugin() -> None:
    assert load("sinks", "notebook") is NotebookSink
