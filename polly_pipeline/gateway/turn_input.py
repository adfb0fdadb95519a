"""Gateway layer: one turn's text as the client sends it, before and while it is spoken.

The reader hands each turn's segments to :meth:`TurnInput.deliver`: sent to the session's turn
at once once it speaks (each announced to the client by a ``segment`` event), held until then.
While the turn waits for more text, a stall watch flushes what it holds if the source goes quiet
for the flush policy's ``stall_after`` seconds (a timer; the flush itself runs as a task of the
conversation, which cancels and awaits it when it ends).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from polly_pipeline.errors import PollyPipelineError
from polly_pipeline.gateway.messages import event
from polly_pipeline.gateway.send_buffer import SendBuffer
from polly_pipeline.gateway.turn_text import TurnText
from polly_pipeline.pipeline.speech_text import SpeechItem
from polly_pipeline.session import InterruptReport, Turn

__all__ = ["TurnInput"]


@dataclass
class TurnInput:
    """A turn's text as the client sends it, before and while it is spoken.

    Args:
        number: the turn's number in the conversation.
        text: cleans and segments the turn's text.
        out: where the turn's ``segment`` events go.
        stall_after: seconds without text after which what the turn holds is flushed.
        spawn: runs the stall flush as a task its owner (the conversation) cancels and awaits
            when it ends; returns None if it is ending.
    """

    number: int
    text: TurnText
    out: SendBuffer = field(repr=False)
    stall_after: float
    spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None] | None] = field(repr=False)
    #: Segments read before the turn started speaking (sent when it starts).
    held: list[SpeechItem] = field(default_factory=list)
    #: The session's turn, once begun.
    begun: Turn | None = None
    #: The session's turn, once it takes this turn's text (after ``turn_started``).
    spoken: Turn | None = None
    characters: int = 0
    ended: bool = False
    #: Interrupted, or its speech failed: nothing more is sent.
    over: bool = False
    first_text_at: float | None = None
    report: InterruptReport | None = None
    #: When the source counts as stalled (loop time) while text is held or unflushed.
    stall_due: float = 0.0
    stall_timer: asyncio.TimerHandle | None = None
    stall_task: asyncio.Task[None] | None = None

    def close(self) -> None:
        """Nothing more is sent: stop the stall watch."""
        self.over = True
        if self.stall_timer is not None:
            self.stall_timer.cancel()
            self.stall_timer = None
        if self.stall_task is not None:
            self.stall_task.cancel()

    async def deliver(self, items: list[SpeechItem]) -> None:
        """Send segments to the session's turn now (held until the turn speaks), each
        announced to the client by a ``segment`` event; watch for the source stalling."""
        if self.over:
            return
        if self.spoken is None:
            self.held += items
        else:
            try:
                for piece in items:
                    await self.spoken.send(piece.text, flush=piece.flush)
                    if piece.text:
                        self.out.add(
                            event(
                                "segment",
                                turn=self.number,
                                text=piece.text,
                                flush=piece.flush,
                                reason=piece.reason,
                            ),
                            self.number,
                        )
            except PollyPipelineError:  # the turn failed (its audio() raises why)
                self.close()  # or refused the text: it ends with what it has
                with contextlib.suppress(PollyPipelineError):
                    await self.spoken.finish()
                return
        if not self.ended and self.text.waiting:
            loop = asyncio.get_running_loop()
            self.stall_due = loop.time() + self.stall_after
            if self.stall_timer is None and self.stall_task is None:
                self.stall_timer = loop.call_at(self.stall_due, self._stall_check)

    def _stall_check(self) -> None:
        """The stall timer fired: flush what the turn holds if no text came since."""
        self.stall_timer = None
        if self.over or self.ended:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self.stall_due - 1e-3:  # text came meanwhile: wait from then
            self.stall_timer = loop.call_at(self.stall_due, self._stall_check)
            return
        self.stall_task = self.spawn(self._stalled(), "gateway-stall")

    async def _stalled(self) -> None:
        try:
            if self.text.waiting and not self.ended:
                await self.deliver(self.text.stall())
        finally:
            self.stall_task = None
