"""LiveKit bridge (a plugin): a scripted LLM and a recording audio output for ``AgentSession``.

Both plug into LiveKit's real machinery where a room and a model would be: ``ScriptedLLM`` is a
``livekit.agents.llm.LLM`` whose streams yield a fixed answer token by token at a model's pace
(:func:`polly_pipeline.testing.scripted_tokens`), and ``RecordingAudioOutput`` is the session's
audio sink, playing in (simulated) real time and recording when each frame arrived. Used by
this plugin's tests and by ``benchmarks/bridges_livekit.py``; handy for your own agent tests::

    session = AgentSession(llm=ScriptedLLM("Hello! How can I help?"), tts=TTS())
    session.output.audio = output = RecordingAudioOutput()
    await session.start(Agent(instructions="..."))
    await session.generate_reply(user_input="Hi").wait_for_playout()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from livekit import rtc
from livekit.agents import APIConnectOptions, NotGivenOr, llm, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN
from livekit.agents.voice.io import AudioOutput, AudioOutputCapabilities

from polly_pipeline.testing import scripted_tokens

__all__ = ["FrameArrival", "RecordingAudioOutput", "ScriptedLLM"]


class ScriptedLLM(llm.LLM[None]):
    """An LLM that answers every request with ``answer``, paced like a streaming model.

    Args:
        answer: the text (cut into tokens as a model would) or the exact tokens.
        first_token_delay: seconds from the request to the first token.
        tokens_per_second: the pace of the following tokens (0: all at once).
    """

    def __init__(
        self,
        answer: str | Sequence[str],
        *,
        first_token_delay: float = 0.0,
        tokens_per_second: float = 0.0,
    ) -> None:
        super().__init__()
        self.answer = answer
        self.first_token_delay = first_token_delay
        self.tokens_per_second = tokens_per_second
        #: when each request arrived (``time.monotonic()``), for latency measurements
        self.requests: list[float] = []
        #: when each answer's last token was sent
        self.completed: list[float] = []

    @property
    def model(self) -> str:
        """A name for LiveKit's metrics."""
        return "scripted"

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        """One answer stream (the chat context is not looked at)."""
        self.requests.append(time.monotonic())
        return _ScriptedStream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )


class _ScriptedStream(llm.LLMStream):
    def __init__(
        self,
        scripted: ScriptedLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(scripted, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._scripted = scripted

    async def _run(self) -> None:
        request_id = utils.shortuuid()
        tokens = scripted_tokens(
            self._scripted.answer,
            first_token_delay=self._scripted.first_token_delay,
            tokens_per_second=self._scripted.tokens_per_second,
        )
        async for token in tokens:
            delta = llm.ChoiceDelta(role="assistant", content=token)
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
        self._scripted.completed.append(time.monotonic())


@dataclass(frozen=True)
class FrameArrival:
    """One audio frame the output received: when (``time.monotonic()``), and its audio."""

    at: float
    frame: rtc.AudioFrame


@dataclass
class _Segment:
    started: float
    pushed: float = 0.0
    frames: list[FrameArrival] = field(default_factory=list)


class RecordingAudioOutput(AudioOutput):
    """An ``AgentSession`` audio output that plays in simulated real time and records frames.

    Playback of a segment starts with its first frame and lasts as long as its audio;
    ``clear_buffer()`` (LiveKit's barge-in) stops it at once.

    Attributes:
        frames: every frame received, in order.
        cleared_at: when ``clear_buffer()`` was called (``time.monotonic()``), each time.
        first_frame: set when the first frame arrives.
        flushed: set when a segment with audio is complete (LiveKit has sent all its frames).
    """

    def __init__(self, *, sample_rate: int | None = None) -> None:
        super().__init__(
            label="RecordingAudioOutput",
            capabilities=AudioOutputCapabilities(pause=False),
            sample_rate=sample_rate,
        )
        self.frames: list[FrameArrival] = []
        self.cleared_at: list[float] = []
        self.first_frame = asyncio.Event()
        self.flushed = asyncio.Event()
        self._segment: _Segment | None = None  # being captured
        self._playing: tuple[_Segment, asyncio.TimerHandle] | None = None  # flushed, playing

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        """Record one frame; the first of a segment starts its playback."""
        await super().capture_frame(frame)
        now = time.monotonic()
        arrival = FrameArrival(now, frame)
        self.frames.append(arrival)
        self.first_frame.set()
        if self._segment is None:
            self._segment = _Segment(started=now)
            self.on_playback_started(created_at=time.time())
        self._segment.pushed += frame.duration
        self._segment.frames.append(arrival)

    def flush(self) -> None:
        """The segment is complete: it finishes once its audio has played."""
        super().flush()
        segment, self._segment = self._segment, None
        if segment is None:
            return
        self.flushed.set()
        self._stop_playing(interrupted=False)
        delay = max(0.0, segment.started + segment.pushed - time.monotonic())
        timer = asyncio.get_running_loop().call_later(delay, self._finished, segment)
        self._playing = (segment, timer)

    def _finished(self, segment: _Segment) -> None:
        self._playing = None
        self.on_playback_finished(playback_position=segment.pushed, interrupted=False)

    def _stop_playing(self, *, interrupted: bool) -> None:
        playing, self._playing = self._playing, None
        if playing is not None:
            segment, timer = playing
            timer.cancel()
            played = min(segment.pushed, time.monotonic() - segment.started)
            self.on_playback_finished(playback_position=played, interrupted=interrupted)

    def clear_buffer(self) -> None:
        """Barge-in: stop playback now."""
        self.cleared_at.append(time.monotonic())
        self._stop_playing(interrupted=True)
        segment, self._segment = self._segment, None
        if segment is not None:
            played = min(segment.pushed, time.monotonic() - segment.started)
            self.on_playback_finished(playback_position=played, interrupted=True)
