"""End to end: a Bedrock answer spoken through the local Polly service while it streams."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import MODEL
from polly_pipeline_bedrock import bedrock_converse_source
from polly_pipeline_bedrock.testing import BedrockFault, LocalBedrock, LocalBedrockConfig

from polly_pipeline import SpeechSession
from polly_pipeline.errors import LLMError
from polly_pipeline.local import LocalPollyService
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.plugins import load
from polly_pipeline.sinks import MemorySink
from polly_pipeline.testing import REFERENCE_ANSWER
from polly_pipeline.text import clean_markdown


def spoken_text(svc: LocalPollyService) -> str:
    return "".join("".join(r.texts) for r in svc.streams)


async def test_the_answer_is_spoken_while_bedrock_still_writes(
    local_polly: LocalPollyService, local_bedrock: LocalBedrock, bedrock: Any
) -> None:
    local_bedrock.config = LocalBedrockConfig(first_token_delay=0.2, tokens_per_second=250)
    source = bedrock_converse_source(
        MODEL, prompt="How does streaming speech work?", client=bedrock
    )
    sink = MemorySink()
    async with (
        local_polly.client() as polly,
        SpeechSession(
            polly, voice_id="Joanna", output_format="pcm", keepalive_interval=0.3
        ) as session,
    ):
        report = await Pipeline(session).run(source, sink)
    assert report.audio_started_before_source_finished, report.summary()
    assert spoken_text(local_polly) == clean_markdown(REFERENCE_ANSWER)
    assert source.result is not None
    assert source.result.stop_reason == "end_turn"
    assert sink.data
    assert report.turn is not None
    assert report.turn.characters_billed == len(clean_markdown(REFERENCE_ANSWER))


async def test_a_failing_answer_fails_the_run_after_speaking_what_came(
    local_polly: LocalPollyService, local_bedrock: LocalBedrock, bedrock: Any
) -> None:
    local_bedrock.inject(BedrockFault("exception", after_tokens=120))
    source = bedrock_converse_source(
        MODEL, prompt="How does streaming speech work?", client=bedrock
    )
    async with (
        local_polly.client() as polly,
        SpeechSession(
            polly, voice_id="Joanna", output_format="pcm", keepalive_interval=0.3
        ) as session,
    ):
        with pytest.raises(LLMError, match="modelStreamErrorException"):
            await Pipeline(session).run(source, MemorySink())
    assert source.progress.text_chars > 0


def test_the_source_is_registered_as_a_plugin() -> None:
    assert load("sources", "bedrock") is bedrock_converse_source
