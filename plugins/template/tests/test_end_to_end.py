"""The plugin through the whole pipeline: the fake model, the local Polly service, the sink.

``local_polly`` and ``fake_llm`` come with polly-pipeline (its pytest plugin); no conftest.
"""

from __future__ import annotations

import asyncio
import contextlib
import io

import pytest
from polly_pipeline import SpeechSession
from polly_pipeline.local import LocalPollyService
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.plugins import load
from polly_pipeline.sinks import CallbackSink, MemorySink
from polly_pipeline.testing import FakeLLM

from polly_pipeline_plugin_template import LevelMeterSink, pronounce

ANSWER = "Put nginx in front of the app. It answers quickly. Then restart it."


def spoken_text(service: LocalPollyService) -> str:
    return "".join("".join(record.texts) for record in service.streams)


def test_the_entry_points_are_installed() -> None:
    assert load("sinks", "level-meter") is LevelMeterSink
    assert load("stages", "pronounce") is pronounce


async def test_a_streamed_answer_is_metered_and_pronounced(
    local_polly: LocalPollyService, fake_llm: FakeLLM
) -> None:
    fake_llm.script(ANSWER, first_token_delay=0.1, tokens_per_second=200)
    log = io.StringIO()
    meter = LevelMeterSink(log)
    copy = MemorySink()
    # ``.raw`` is the operator as a plain async iterator, which Pipeline.run takes as a source
    tokens = pronounce.raw(fake_llm.source("How do I serve my app?"), {"nginx": "engine x"})
    async with (
        local_polly.client() as client,
        SpeechSession(client, voice_id="Joanna", output_format="pcm") as session,
    ):
        report = await Pipeline(session).run(tokens, meter, copy)
    # the service was asked to say the spoken form, never the spelling
    said = spoken_text(local_polly)
    assert "engine x" in said
    assert "nginx" not in said
    # the meter saw every chunk the pipeline delivered, and the speech is not silent
    assert len(meter.levels) == report.audio_chunks == len(copy.chunks)
    assert meter.seconds == pytest.approx(copy.duration_seconds())
    loudest = meter.loudest
    assert loudest is not None
    assert loudest.rms_dbfs > -40.0
    assert len(log.getvalue().splitlines()) == len(meter.levels)
    assert fake_llm.requests[0].last_user_text == "How do I serve my app?"


async def test_a_cancelled_run_interrupts_the_meter(
    local_polly: LocalPollyService, fake_llm: FakeLLM
) -> None:
    fake_llm.script(ANSWER * 20, tokens_per_second=100)
    meter = LevelMeterSink()
    first_audio = asyncio.Event()
    tap = CallbackSink(lambda _chunk: first_audio.set())
    async with (
        local_polly.client() as client,
        SpeechSession(client, voice_id="Joanna", output_format="pcm") as session,
    ):
        run = asyncio.create_task(Pipeline(session).run(fake_llm.source("Talk."), meter, tap))
        await asyncio.wait_for(first_audio.wait(), 30)  # then barge in
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(run, 10)
    assert meter.interrupted
    assert meter.closed
