"""The TTS inside LiveKit's AgentSession: a scripted LLM, the framework's real voice pipeline.

No room is needed: the session's audio output is a recording output that plays in simulated
real time, and the LLM is a ``livekit.agents.llm.LLM`` that streams a scripted answer at a
model's pace. Everything between them (the agent's LLM and TTS nodes, the speech handles,
interruption) is LiveKit's own code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from conftest import assert_service_audio, pcm_bytes, rms, spoken_streams
from livekit.agents import Agent, AgentSession
from livekit.agents.voice import SpeechHandle
from polly_pipeline_livekit import TTS
from polly_pipeline_livekit.testing import RecordingAudioOutput, ScriptedLLM

from polly_pipeline.local import LocalPollyService

ANSWER = (
    "Sure! Streaming speech starts before the answer is written. It keeps going while the "
    "model writes the rest. That is the whole point."
)
LONG_ANSWER = "This sentence is one of many in a long answer. " * 20


@pytest.fixture
async def agent_session(polly_tts: TTS) -> AsyncIterator[tuple[AgentSession, RecordingAudioOutput]]:
    session: AgentSession = AgentSession(tts=polly_tts)
    output = RecordingAudioOutput()
    session.output.audio = output
    yield session, output
    await session.aclose()


async def ask(
    session: AgentSession, answer: str, question: str, *, first_token_delay: float, pace: float
) -> tuple[ScriptedLLM, SpeechHandle]:
    """Start the session with an agent that answers ``answer`` at a model's pace, and ask."""
    llm = ScriptedLLM(answer, first_token_delay=first_token_delay, tokens_per_second=pace)
    await session.start(Agent(instructions="Answer the user.", llm=llm))
    return llm, session.generate_reply(user_input=question)


async def test_speaks_the_answer_while_the_llm_is_still_writing(
    agent_session: tuple[AgentSession, RecordingAudioOutput], local_polly: LocalPollyService
) -> None:
    session, output = agent_session
    llm, handle = await ask(session, ANSWER, "Streaming speech?", first_token_delay=0.2, pace=20)
    await asyncio.wait_for(handle.wait_for_playout(), 30)

    assert output.frames[0].at < llm.completed[0]  # first audio before the last token
    (record,) = spoken_streams(local_polly)
    assert "".join(record.texts) == ANSWER
    pcm = pcm_bytes(f.frame for f in output.frames)
    assert_service_audio(pcm, record)
    assert rms(pcm) > 100


async def test_interrupt_stops_the_audio_at_once_and_the_next_reply_speaks(
    agent_session: tuple[AgentSession, RecordingAudioOutput], local_polly: LocalPollyService
) -> None:
    session, output = agent_session
    llm, handle = await ask(session, LONG_ANSWER, "Talk a lot.", first_token_delay=0.1, pace=40)
    await asyncio.wait_for(output.first_frame.wait(), 20)
    await asyncio.sleep(0.3)
    await asyncio.wait_for(session.interrupt(), 10)
    interrupted_at = time.monotonic()
    await asyncio.wait_for(handle.wait_for_playout(), 10)
    await asyncio.sleep(0.5)

    assert handle.interrupted
    assert output.cleared_at  # LiveKit stopped the output
    assert max(f.at for f in output.frames) <= interrupted_at  # no audio after it
    (record,) = spoken_streams(local_polly)
    assert record.outcome != "completed"
    assert len("".join(record.spoken)) < len(LONG_ANSWER.strip())

    before = len(output.frames)
    llm.answer = "Sorry. Here is a short one."
    asked_at = time.monotonic()
    await asyncio.wait_for(session.generate_reply(user_input="Shorter!").wait_for_playout(), 30)
    assert len(output.frames) > before
    last = spoken_streams(local_polly)[-1]
    assert "".join(last.texts) == "Sorry. Here is a short one."
    assert last.started < asked_at  # the warm spare stream, opened before the request
