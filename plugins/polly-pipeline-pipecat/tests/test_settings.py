"""Settings the Pipecat way: runtime voice changes, Pipecat's own aggregator, metrics, errors."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    MetricsFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    TTSUpdateSettingsFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData, TTSUsageMetricsData
from pipecat.services.tts_service import TextAggregationMode
from pipecat.transcriptions.language import Language
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.local import LocalPollyService

from polly_pipeline_pipecat import PollyStreamingTTSService, polly_language
from polly_pipeline_pipecat.testing import Ask, FrameRecorder, ScriptedLLM, running, word_tokens

ANSWER = "Hello there. This answer has **three** sentences. It ends here."
SPOKEN = "Hello there. This answer has three sentences. It ends here."


def said(local_polly: LocalPollyService) -> list[tuple[str, str]]:
    """(voice, text) of each stream that was given text."""
    return [
        (r.params.voice_id, " ".join("".join(r.texts).split()))
        for r in local_polly.streams
        if "".join(r.texts).strip()
    ]


async def test_a_new_voice_speaks_the_next_turn_on_a_warm_stream(
    local_polly: LocalPollyService, polly: PollyStreamingClient
) -> None:
    llm, tts, recorder = ScriptedLLM(), PollyStreamingTTSService(client=polly), FrameRecorder()
    async with running([llm, tts, recorder]) as worker:
        await worker.queue_frame(Ask(word_tokens(ANSWER), first_token_delay=0.05))
        await recorder.wait_for(TTSStoppedFrame)
        change = TTSUpdateSettingsFrame(delta=PollyStreamingTTSService.Settings(voice="Matthew"))
        await worker.queue_frame(change)  # frames keep their order: it applies before the Ask
        await worker.queue_frame(Ask(word_tokens(ANSWER), first_token_delay=0.5))
        await recorder.wait_for(TTSStoppedFrame, count=2)
    assert said(local_polly) == [("Joanna", SPOKEN), ("Matthew", SPOKEN)]
    matthew = next(r for r in local_polly.streams if r.params.voice_id == "Matthew" and r.texts)
    # the new voice's stream was opened when the change arrived, before the answer's first word
    first_token_at = llm.replies[1].first_token_at
    assert first_token_at is not None
    assert matthew.started < first_token_at
    assert tts.turns[-1].audio_seconds > 1.0


async def test_a_voice_change_mid_answer_speaks_the_rest_in_the_new_voice(
    local_polly: LocalPollyService, polly: PollyStreamingClient
) -> None:
    llm, tts, recorder = ScriptedLLM(), PollyStreamingTTSService(client=polly), FrameRecorder()
    change = TTSUpdateSettingsFrame(delta=PollyStreamingTTSService.Settings(voice="Matthew"))
    first, rest = word_tokens("The first sentence is Joanna's. "), word_tokens("This is Matthew.")
    answer = [*first, change, *rest]
    async with running([llm, tts, recorder]) as worker:
        # the change reaches the service between two tokens of one reply
        await worker.queue_frame(Ask(answer, first_token_delay=0.05))
        await recorder.wait_for(TTSStoppedFrame)
        await worker.queue_frame(TTSSpeakFrame("Matthew goes on."))
        await recorder.wait_for(TTSStoppedFrame, count=2)
    # (the service lists streams as their requests arrive, not in the order they were asked for)
    assert sorted(said(local_polly)) == [
        ("Joanna", "The first sentence is Joanna's."),
        ("Matthew", "Matthew goes on."),
        ("Matthew", "This is Matthew."),
    ]
    # the reply stays one audio context, spoken as two turns in order, then the speak frame's
    assert len({frame.context_id for _, frame in recorder.audio()}) == 2
    assert [turn.characters_sent for turn in tts.turns] == [31, 16, 16]
    assert not any(turn.interrupted for turn in tts.turns)


def words(pieces: list[str]) -> str:
    """The text of ``pieces`` with its whitespace normalised (how it was cut aside)."""
    return " ".join(" ".join(pieces).split())


@pytest.mark.parametrize(
    ("mode", "texts", "flushes"),
    [
        (TextAggregationMode.SENTENCE, ["Hello there.", "This answer has **three** sentences."], 3),
        (TextAggregationMode.TOKEN, ["Hello ", "there. ", "This ", "answer "], 0),
    ],
)
async def test_pipecats_aggregator_can_cut_the_text_instead(
    local_polly: LocalPollyService,
    polly: PollyStreamingClient,
    mode: TextAggregationMode,
    texts: list[str],
    flushes: int,
) -> None:
    llm, recorder = ScriptedLLM(), FrameRecorder()
    tts = PollyStreamingTTSService(client=polly, text_aggregation_mode=mode)
    async with running([llm, tts, recorder]) as worker:
        await worker.queue_frame(Ask(word_tokens(ANSWER), first_token_delay=0.05))
        await recorder.wait_for(TTSStoppedFrame)
    [stream] = [r for r in local_polly.streams if r.texts]
    # Pipecat's pieces are sent as they are (markdown included: Pipecat's way, no cleaner);
    # the client may merge pieces without a sentence or clause boundary into one TextEvent
    assert words(stream.texts).startswith(words(texts))
    assert stream.flushes == flushes
    assert tts.turns[-1].audio_seconds > 1.0


async def test_ttfb_and_usage_are_reported_as_pipecat_metrics(polly: PollyStreamingClient) -> None:
    llm, tts, recorder = ScriptedLLM(), PollyStreamingTTSService(client=polly), FrameRecorder()
    async with running([llm, tts, recorder]) as worker:
        await worker.queue_frame(Ask(word_tokens(ANSWER), first_token_delay=0.05))
        await recorder.wait_for(TTSStoppedFrame)
    data = [d for s in recorder.frames(MetricsFrame) for d in s.frame.data]  # type: ignore[attr-defined]
    ttfb = [d.value for d in data if isinstance(d, TTFBMetricsData) and d.processor == tts.name]
    usage = [d.value for d in data if isinstance(d, TTSUsageMetricsData)]
    # Pipecat sends an empty (0.0) TTFB when the pipeline starts; then one per reply
    assert ttfb[0] == 0.0
    assert len(ttfb) == 2
    assert 0 < ttfb[1] < 5
    assert usage == [len(ANSWER)]


async def test_a_voice_polly_lacks_is_reported_as_a_pipecat_error(
    polly: PollyStreamingClient,
) -> None:
    errors: list[ErrorFrame] = []
    llm, recorder = ScriptedLLM(), FrameRecorder()
    tts = PollyStreamingTTSService(
        client=polly, settings=PollyStreamingTTSService.Settings(voice="Joanne")
    )
    async with running([llm, tts, recorder]) as worker:

        @worker.event_handler("on_pipeline_error")  # type: ignore[misc]
        async def _error(worker: object, frame: Frame) -> None:
            assert isinstance(frame, ErrorFrame)
            errors.append(frame)

        await worker.queue_frame(Ask(word_tokens(ANSWER), first_token_delay=0.05))
        await recorder.wait_for(TTSStoppedFrame, within=10)
    assert errors
    assert "Joanna" in errors[0].error  # the suggestion for the misspelt voice
    assert recorder.audio() == []


def test_pipecat_languages_become_polly_codes() -> None:
    assert polly_language(Language.DE) == "de-DE"
    assert polly_language(Language.EN) == "en-US"
    assert polly_language(Language.EN_GB) == "en-GB"
    assert polly_language(Language.ZH) == "cmn-CN"
    assert polly_language(Language.PT_BR) == "pt-BR"
    assert polly_language(Language.SV) == "sv-SE"
    assert polly_language("tlh") is None


def test_keys_for_the_local_service_are_refused_with_what_to_change() -> None:
    with pytest.raises(ConfigurationError, match="backend='aws'"):
        PollyStreamingTTSService(backend="local", aws_access_key_id="AKIA", api_key="secret")
    with pytest.raises(ConfigurationError, match="both api_key"):
        PollyStreamingTTSService(aws_access_key_id="AKIA")
