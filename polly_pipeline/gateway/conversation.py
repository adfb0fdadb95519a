"""Gateway layer: one ``/v1/speak`` WebSocket conversation on one warm speech session.

Three tasks per connection, in one :class:`asyncio.TaskGroup` and ended together when any of
them ends: the reader (client messages), the speaker (turns, one after another, on the
connection's :class:`SpeechSession`; each turn a task in a group of its own, which an interrupt
cancels) and the writer (the :class:`SendBuffer`, to the socket, with a deadline per frame). A
stall flush runs in the conversation's group too. A client that disconnects interrupts its
turn; the session, its streams and every task end with it before :meth:`Conversation.run`
returns.

The reader cleans and segments each text message as it reads it and hands the segments of the
turn that is speaking straight to its session: no task hop per message, so a sentence's last
token reaches Polly in the same pass of the event loop that read it (a hop per message cost a
pass of a busy loop each; benchmarks/results/gateway.md). The segments of a turn still waiting
for the one before it are held until it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ParameterValidationError, PollyPipelineError
from polly_pipeline.gateway.config import Limits
from polly_pipeline.gateway.messages import (
    End,
    Interrupt,
    Message,
    ProtocolViolation,
    Start,
    Text,
    error_event,
    event,
    parse_message,
)
from polly_pipeline.gateway.owned import OwnedTasks
from polly_pipeline.gateway.rate import TokenBucket
from polly_pipeline.gateway.send_buffer import BufferOverflow, SendBuffer
from polly_pipeline.gateway.turn_input import TurnInput
from polly_pipeline.gateway.turn_text import TurnText
from polly_pipeline.gateway.writer import write_frames
from polly_pipeline.pipeline.flush import FlushPolicy
from polly_pipeline.session import InterruptReport, SpeechSession, Turn

__all__ = ["Conversation", "ConversationStats"]

log = logging.getLogger("polly_pipeline.gateway")

#: The subprotocol a browser names, beside ``bearer.<token>``, to authenticate.
SUBPROTOCOL = "polly-pipeline"


@dataclass
class ConversationStats:
    """What one conversation did (for the access log)."""

    turns: int = 0
    interrupts: int = 0
    errors: int = 0
    audio_bytes: int = 0
    characters: int = 0


class Conversation:
    """Serves one accepted WebSocket until the client leaves.

    Args:
        websocket: the accepted connection.
        client: the Polly client whose pool the conversation's session uses.
        limits: per-connection limits.
        on_end: called with the stats when the conversation is over.
    """

    def __init__(
        self,
        websocket: WebSocket,
        client: PollyStreamingClient,
        limits: Limits,
        on_end: Callable[[ConversationStats], None] | None = None,
    ) -> None:
        self._ws = websocket
        self._client = client
        self._limits = limits
        self._on_end = on_end
        self._out = SendBuffer(limits.send_queue)
        self._bucket = TokenBucket(limits.text_rate, limits.text_burst)
        self._session: SpeechSession | None = None
        self._start: Start | None = None
        self._policy = FlushPolicy()
        self._turns: deque[TurnInput] = deque()
        self._turn_ready = asyncio.Event()
        self._input: TurnInput | None = None
        self._speaking: tuple[TurnInput, asyncio.Task[None]] | None = None
        self._numbers = 0
        self._tasks = OwnedTasks()
        self.stats = ConversationStats()

    async def run(self) -> None:
        """Read messages until the client leaves, then end everything this conversation owns."""
        try:
            await self._tasks.run(
                ("gateway-writer", write_frames(self._ws, self._out, self._limits.send_timeout)),
                ("gateway-speaker", self._speak_turns()),
                ("gateway-reader", self._read()),
            )
        finally:
            waiting = {id(t): t for t in (*self._turns, *([self._input] if self._input else []))}
            for turn in waiting.values():
                turn.close()
                if turn.begun is not None and not turn.begun.done:
                    with contextlib.suppress(PollyPipelineError):
                        await turn.begun.interrupt()
            if self._session is not None:
                await self._session.aclose()
            if self._on_end is not None:
                self._on_end(self.stats)

    # -- reader ---------------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                await self._handle(self._parse(message))
            except ProtocolViolation as problem:
                self._error(problem.error, problem.message)
            except BufferOverflow:
                log.warning("closing a conversation whose client left its replies unread")
                return

    def _parse(self, message: Mapping[str, Any]) -> Message:
        text = message.get("text")
        if text is None:
            raise ProtocolViolation(
                "binary_not_expected",
                "binary frames are not accepted; send JSON text messages (see the protocol)",
            )
        limit = self._limits.max_message_bytes
        if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
            raise ProtocolViolation(
                "message_too_large",
                f"a message may be at most {limit} bytes; send the text in smaller pieces",
            )
        return parse_message(text, max_text_chars=self._limits.max_text_chars)

    async def _handle(self, message: Message) -> None:
        if isinstance(message, Start):
            await self._open_session(message)
        elif isinstance(message, Text):
            turn = self._add_text(message)
            first = self._turns[0] if self._turns else None
            if turn.begun is None and self._speaking is None and first is turn:
                # nothing speaks: begin the turn now, so its text goes to the session as read
                with contextlib.suppress(PollyPipelineError):  # _speak tries again, reports
                    await self._begin(turn, wait=False)
            await turn.deliver(turn.text.feed(message.text, flush=message.flush))
        elif isinstance(message, End):
            if self._input is None or self._input.ended:
                raise ProtocolViolation("invalid_message", "no turn is open: send text first")
            turn, self._input = self._input, None
            turn.ended = True
            await turn.deliver(turn.text.end())
            if turn.spoken is not None and not turn.over:
                with contextlib.suppress(PollyPipelineError):
                    await turn.spoken.finish()
        elif isinstance(message, Interrupt):
            await self._interrupt()

    async def _open_session(self, start: Start) -> None:
        if self._speaking is not None or self._turns:
            raise ProtocolViolation(
                "invalid_message", "a conversation can be restarted only between turns"
            )
        try:
            session = SpeechSession(
                self._client,
                voice_id=start.voice,
                output_format=start.output_format,
                sample_rate=start.sample_rate,
                language_code=start.language,
                pacing=start.pacing,
            )
        except ParameterValidationError as exc:
            raise ProtocolViolation("invalid_parameters", str(exc)) from None
        old, self._session = self._session, None
        if old is not None:
            await old.aclose()
        try:
            await session.start()
        except PollyPipelineError as exc:
            await session.aclose()
            self._error("speech_failed", str(exc), exception=type(exc).__name__)
            return
        self._session, self._start = session, start
        params = session.params
        self._reply(
            event(
                "ready",
                voice=params.voice_id,
                format=params.output_format,
                sample_rate=params.effective_sample_rate,
                language=params.language,
                text_mode=start.text_mode,
                pacing=start.pacing,
            )
        )

    def _add_text(self, message: Text) -> TurnInput:
        """Account for a text message; the turn it belongs to (a new one if none is open)."""
        if self._session is None or self._start is None:
            raise ProtocolViolation(
                "not_started", 'open the conversation first: {"type": "start", "voice": ...}'
            )
        turn = self._input
        if turn is None:
            if len(self._turns) + (self._speaking is not None) >= self._limits.max_turns:
                raise ProtocolViolation(
                    "too_many_turns",
                    f"at most {self._limits.max_turns} turns at once; wait for turn_done "
                    "or interrupt",
                )
            turn = TurnInput(
                self._numbers,
                self._turn_text(self._session, self._start),
                self._out,
                self._policy.stall_after,
                self._tasks.spawn,
            )
        if turn.characters + len(message.text) > self._limits.max_turn_chars:
            raise ProtocolViolation(
                "turn_too_long",
                f"a turn holds at most {self._limits.max_turn_chars} characters; "
                'end it with {"type": "end"} and go on in the next',
            )
        if not self._bucket.take(len(message.text)):
            raise ProtocolViolation(
                "rate_limited",
                f"text arrives faster than {self._limits.text_rate:g} characters per second; "
                f"this message was dropped, send it again in "
                f"{self._bucket.wait_for(len(message.text)):.2f} s",
            )
        if self._input is None:  # a new turn, counted once its first text is accepted
            self._numbers += 1
            self._input = turn
            self._turns.append(turn)
            self._turn_ready.set()
        if turn.first_text_at is None:
            turn.first_text_at = time.monotonic()
        turn.characters += len(message.text)
        self.stats.characters += len(message.text)
        return turn

    def _turn_text(self, session: SpeechSession, start: Start) -> TurnText:
        params = session.params
        language = params.language or "en"
        return TurnText(
            clean=start.text_mode == "clean",
            language=language,
            policy=self._policy,
            clock=asyncio.get_running_loop().time,
            seconds_per_character=lambda: session.seconds_per_character,
        )

    async def _interrupt(self) -> None:
        waiting = list(self._turns)
        self._turns.clear()
        if self._input is not None:
            self._input.ended = True
            self._input = None
        report: InterruptReport | None = None
        number: int | None = None
        dropped = []
        for turn in waiting:
            turn.close()
            if turn.begun is None:
                dropped.append(turn.number)
                continue
            number = turn.number  # begun as its text came; the speaker had not taken it yet
            if not turn.begun.done:
                report = turn.report = await turn.begun.interrupt()
            self._out.drop_turn(turn.number)
        if self._speaking is not None:
            turn, task = self._speaking
            number = turn.number
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._out.drop_turn(turn.number)
            report = turn.report
        self.stats.interrupts += 1
        self._reply(
            event(
                "interrupted",
                turn=number,
                dropped_turns=dropped,
                characters_sent=report.characters_sent if report else 0,
                seconds_heard=round(report.seconds_heard, 3) if report else 0.0,
                text_heard=report.text_heard if report else "",
            )
        )

    def _reply(self, frame: str) -> None:
        self._out.reply(frame)

    def _error(self, error: Any, message: str, **fields: Any) -> None:
        self.stats.errors += 1
        self._reply(error_event(error, message, **fields))

    # -- speaker --------------------------------------------------------------------------------

    async def _speak_turns(self) -> None:
        while True:
            while not self._turns:
                self._turn_ready.clear()
                await self._turn_ready.wait()
            turn = self._turns.popleft()
            try:  # an interrupt cancels the turn's task; the conversation's end, all of it
                async with asyncio.TaskGroup() as group:
                    task = group.create_task(self._speak(turn), name=f"gateway-turn-{turn.number}")
                    self._speaking = (turn, task)
            except* Exception as failed:  # not the client's doing: logged, the next turn goes on
                log.error("turn %d failed", turn.number, exc_info=failed)
            finally:
                self._speaking = None

    async def _begin(self, turn: TurnInput, *, wait: bool) -> Turn:
        """Begin the turn on the session: ``turn_started``, then the text it holds.

        ``wait``: wait for room in the send buffer (the speaker); the reader queues the event
        at once (one per turn).
        """
        session = self._session
        assert session is not None
        spoken = turn.begun = await session.begin_turn()
        self.stats.turns += 1
        started = event("turn_started", turn=turn.number)
        if wait:
            await self._out.put(started, turn.number)
        else:
            self._out.add(started, turn.number)
        held, turn.held = turn.held, []
        turn.spoken = spoken
        await turn.deliver(held)
        if turn.ended and not turn.over:
            with contextlib.suppress(PollyPipelineError):
                await spoken.finish()
        return spoken

    async def _speak(self, turn: TurnInput) -> None:
        try:
            spoken = turn.spoken or await self._begin(turn, wait=True)
            first = True
            async for chunk in spoken.audio():
                if first:
                    first = False
                    since = time.monotonic() - (turn.first_text_at or time.monotonic())
                    await self._out.put(
                        event("first_audio", turn=turn.number, seconds=round(since, 4)),
                        turn.number,
                    )
                self.stats.audio_bytes += len(chunk.data)
                await self._out.put(chunk.data, turn.number)
            metrics = await spoken.wait()
            done = {k: v for k, v in dataclasses.asdict(metrics).items() if k != "turn_id"}
            await self._out.put(event("turn_done", turn=turn.number, metrics=done), turn.number)
        except PollyPipelineError as exc:
            self.stats.errors += 1
            await self._out.put(
                error_event(
                    "speech_failed", str(exc), turn=turn.number, exception=type(exc).__name__
                ),
                turn.number,
            )
        finally:
            turn.close()
            if turn.begun is not None and not turn.begun.done:
                turn.report = await turn.begun.interrupt()
