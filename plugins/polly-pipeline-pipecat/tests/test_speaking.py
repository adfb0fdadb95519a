"""The service in a real Pipecat pipeline against the local Polly service: it speaks as the
model writes, and the audio is all there."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import TTSStartedFrame, TTSStoppedFrame
from polly_pipeline.audio import AudioClock
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local import LocalPollyService

from polly_pipeline_pipecat import PollyStreamingTTSService
from polly_pipeline_pipecat.testing import Ask, FrameRecorder, ScriptedLLM, running, word_tokens

ANSWER = (
    "Sure. The sky looks blue because air scatters short wavelengths of sunlight far more "
    "than long ones. That scattered blue light reaches your eyes from every direction. "
    "At sunset the light crosses much more air, so the reds and oranges remain."
)


def spoken(service: LocalPollyService) -> str:
    return "".join("".join(record.texts) for record in service.streams)


async def test_audio_frames_arrive_while_the_model_is_still_writing(
    local_polly: LocalPollyService, polly: PollyStreamingClient
) -> None:
    llm, tts, recorder = ScriptedLLM(), PollyStreamingTTSService(client=polly), FrameRecorder()
    async with running([llm, tts, recorder]) as worker:
        # about five seconds of writing: ample time for speech to start before the end
        ask = Ask(word_tokens(ANSWER), first_token_delay=0.2, tokens_per_second=8)
        await worker.queue_frame(ask)
        await recorder.wait_for(TTSStoppedFrame)
    reply = llm.replies[0]
    audio = recorder.audio()
    assert reply.completed
    assert reply.last_token_at is not None
    # speech started while the model was still writing
    assert audio[0][0] < reply.last_token_at
    assert len(recorder.frames(TTSStartedFrame)) == 1
    # every word of the answer was sent to Polly, once, on one stream
    assert [r.params.voice_id for r in local_polly.streams if r.texts] == ["Joanna"]
    assert " ".join(spoken(local_polly).split()) == ANSWER


@pytest.mark.parametrize("rate", [16000, 24000])
async def test_the_audio_decodes_to_what_polly_sent(
    local_polly: LocalPollyService, polly: PollyStreamingClient, rate: int
) -> None:
    llm, recorder = ScriptedLLM(), FrameRecorder()
    tts = PollyStreamingTTSService(client=polly, sample_rate=rate)
    async with running([llm, tts, recorder]) as worker:
        ask = Ask(word_tokens(ANSWER), first_token_delay=0.05, tokens_per_second=200)
        await worker.queue_frame(ask)
        await recorder.wait_for(TTSStoppedFrame)
    frames = [frame for _, frame in recorder.audio()]
    assert {(f.sample_rate, f.num_channels) for f in frames} == {(rate, 1)}
    pcm = b"".join(f.audio for f in frames)
    clock = AudioClock("pcm", rate)
    clock.feed(pcm)
    turn = tts.turns[-1]
    [record] = [r for r in local_polly.streams if r.texts]
    # Pipecat got exactly the seconds of speech the stream carried (resampling included)
    assert turn.audio_seconds == pytest.approx(record.audio_seconds, abs=1e-3)
    assert clock.seconds == pytest.approx(record.audio_seconds, abs=0.01)
    assert clock.seconds > 5.0
    assert turn.characters_billed == record.request_characters > 0
