"""Barge-in inside a real Pipecat pipeline: an interruption cuts the turn's audio at once, and
the next turn speaks, starting on the session's warm spare stream."""

from __future__ import annotations

from pipecat.frames.frames import (
    InterruptionFrame,
    InterruptionWorkerFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local import LocalPollyService

from polly_pipeline_pipecat import PollyStreamingTTSService
from polly_pipeline_pipecat.testing import Ask, FrameRecorder, ScriptedLLM, running, word_tokens

LONG_ANSWER = " ".join(
    f"Point number {n} is that streaming speech starts long before the answer ends."
    for n in range(1, 30)
)
NEXT_ANSWER = "Of course. Here is the short version."


async def test_an_interruption_stops_the_audio_at_once_and_the_next_turn_speaks(
    local_polly: LocalPollyService, polly: PollyStreamingClient
) -> None:
    llm, tts, recorder = ScriptedLLM(), PollyStreamingTTSService(client=polly), FrameRecorder()
    async with running([llm, tts, recorder]) as worker:
        await worker.queue_frame(Ask(word_tokens(LONG_ANSWER), first_token_delay=0.1))
        await recorder.wait_for(TTSAudioRawFrame, count=3)
        # what a user starting to speak does: a processor asks the worker to interrupt
        await worker.queue_frame(InterruptionWorkerFrame(), FrameDirection.UPSTREAM)
        await recorder.wait_for(InterruptionFrame)
        [interruption] = recorder.frames(InterruptionFrame)
        await worker.queue_frame(Ask(word_tokens(NEXT_ANSWER), first_token_delay=0.1))
        # an interrupted context never reports TTSStoppedFrame: this is the next turn's
        await recorder.wait_for(TTSStoppedFrame)
    first, second = llm.replies
    assert not first.completed  # the model was cut off mid-answer too
    first_context = recorder.audio()[0][1].context_id
    after = recorder.audio(since=interruption.at)
    # no stale audio: nothing of the interrupted turn reached the pipeline after the interruption
    assert after
    assert {frame.context_id for _, frame in after} != {first_context}
    assert all(frame.context_id != first_context for _, frame in after)
    [stopped] = recorder.frames(TTSStoppedFrame)
    assert stopped.frame.context_id == after[0][1].context_id
    # the interrupted turn was cut: metrics say so, and its stream never got the whole answer
    cut, spoken = tts.turns
    assert cut.interrupted
    assert not spoken.interrupted
    assert spoken.audio_seconds > 1.0
    streams = [r for r in local_polly.streams if r.texts]
    assert len(streams) == 2
    assert len("".join(streams[0].texts)) < len(LONG_ANSWER) / 2
    assert " ".join("".join(streams[1].texts).split()) == NEXT_ANSWER
    # the next turn spoke on a stream opened before it was asked for: the warm spare
    assert streams[1].started < second.asked_at


async def test_an_interruption_while_the_model_thinks_mid_reply_cuts_that_turn_too(
    local_polly: LocalPollyService, polly: PollyStreamingClient
) -> None:
    """Pipecat ends an audio context that stays silent (here after 0.3 s); the turn must still
    stop at an interruption, or it would hold the session and the next reply would never speak."""
    llm, recorder = ScriptedLLM(), FrameRecorder()
    tts = PollyStreamingTTSService(client=polly, stop_frame_timeout_s=0.3)
    # one sentence, then a model that thinks for seconds between words
    slow = Ask(word_tokens("Let me think. About that, hmm, for a while."), tokens_per_second=0.5)
    async with running([llm, tts, recorder]) as worker:
        await worker.queue_frame(slow)
        await recorder.wait_for(TTSStoppedFrame)  # Pipecat gave up on the silent context
        await worker.queue_frame(InterruptionWorkerFrame(), FrameDirection.UPSTREAM)
        await recorder.wait_for(InterruptionFrame)
        await worker.queue_frame(Ask(word_tokens(NEXT_ANSWER), first_token_delay=0.1))
        await recorder.wait_for(TTSStoppedFrame, count=2)
    cut, spoken = tts.turns
    assert cut.interrupted
    assert not spoken.interrupted
    streams = [r for r in local_polly.streams if r.texts]
    assert " ".join("".join(streams[-1].texts).split()) == NEXT_ANSWER
