"""Where speech comes from: the service opens its own backend when given no client."""

from __future__ import annotations

from pipecat.frames.frames import TTSStoppedFrame
from polly_pipeline.local import LocalPollyService

from polly_pipeline_pipecat import PollyStreamingTTSService
from polly_pipeline_pipecat.testing import Ask, FrameRecorder, ScriptedLLM, running, word_tokens

ANSWER = "It works without any setup."


async def speak_once(tts: PollyStreamingTTSService) -> float:
    """Speak ANSWER through a pipeline; the seconds of audio the service delivered."""
    llm, recorder = ScriptedLLM(), FrameRecorder()
    async with running([llm, tts, recorder]) as worker:
        await worker.queue_frame(Ask(word_tokens(ANSWER), first_token_delay=0.05))
        await recorder.wait_for(TTSStoppedFrame)
    return sum(len(frame.audio) for _, frame in recorder.audio()) / (2 * tts.sample_rate)


async def test_without_aws_credentials_it_starts_the_local_service_itself() -> None:
    tts = PollyStreamingTTSService()
    assert await speak_once(tts) > 1.0
    assert tts.turns[-1].characters_billed == len(ANSWER)


async def test_aws_keys_and_region_are_used_as_given(local_polly: LocalPollyService) -> None:
    """The Amazon Polly path (keys, region, an endpoint override and its CA) signs correctly."""
    credentials = local_polly.credentials
    tts = PollyStreamingTTSService(
        region=local_polly.region,
        aws_access_key_id=credentials.access_key,
        api_key=credentials.secret_key,
        endpoint_url=local_polly.endpoint_url,
        ca_file=str(local_polly.ca_file),
    )
    assert await speak_once(tts) > 1.0
    assert [r.outcome for r in local_polly.streams if r.texts] == ["completed"]
