"""speak_in_notebook: one call speaks a source with the player and returns the report."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import polly_pipeline_notebook
import pytest
from nbaudio import meta, pushes, recording
from polly_pipeline_notebook import demo_llm, local_service, speak_in_notebook

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.local import DEMO_MODEL
from polly_pipeline.session import SpeechSession
from polly_pipeline.sinks import MemorySink
from polly_pipeline.sources import openai_chat_source

Outputs = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def shared_service() -> Iterator[None]:
    """The kernel-wide local service is stopped after the test (its thread joined)."""
    try:
        yield
    finally:
        polly_pipeline_notebook.stop_local_service()


async def test_with_no_client_the_local_service_speaks_an_llm_answer(
    shared_service: None, displayed: Outputs
) -> None:
    async with demo_llm() as llm:
        answer = openai_chat_source(
            llm, model=DEMO_MODEL, messages=[{"role": "user", "content": "Tell me a joke."}]
        )
        memory = MemorySink()
        run = await speak_in_notebook(answer, sinks=[memory])
    report = run.report
    assert report.audio_started_before_source_finished, report.summary()
    carried = pushes(displayed())
    assert b"".join(p.pcm for p in carried) == memory.data
    # the first push left before the model had finished its answer
    assert carried[0].meta["source_done"] is False
    assert carried[-1].meta["elapsed"] <= report.total_seconds
    assert recording(displayed()[-1])[0] == memory.data
    assert local_service() is local_service()  # one service per kernel


async def test_a_given_session_is_used_and_keeps_its_voice(
    polly: PollyStreamingClient, displayed: Outputs
) -> None:
    async with SpeechSession(polly, voice_id="Matthew", output_format="pcm", sample_rate=8000) as s:
        run = await speak_in_notebook(["Two ", "short ", "sentences. ", "Here."], session=s)
        with pytest.raises(ConfigurationError, match="a given session keeps its own"):
            await speak_in_notebook("Hello.", session=s, voice_id="Joanna")
    assert {p.sample_rate for p in pushes(displayed())} == {8000}
    assert run.report.segments_sent >= 1
    assert [meta(o)["kind"] for o in displayed()][-1] == "answer"


async def test_an_async_source_of_pieces_is_spoken_with_a_given_client(
    polly: PollyStreamingClient, displayed: Outputs
) -> None:
    async def pieces() -> AsyncIterator[str]:
        for piece in ("Spoken ", "from an ", "async ", "generator."):
            yield piece

    run = await speak_in_notebook(pieces(), client=polly, title="Generator")
    assert run.report.tokens_in == 4
    assert sum(p.seconds for p in pushes(displayed())) == pytest.approx(
        run.report.audio_seconds, abs=1e-6
    )
    assert "Generator" in displayed()[0]["data"]["text/html"]
