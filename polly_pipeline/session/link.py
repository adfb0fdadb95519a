"""Session layer: the stream link, one Polly stream as the session uses it.

A link owns one :class:`~polly_pipeline.client.stream.SpeechSynthesisStream` and a task that
pumps its output events into a queue (so a turn, the spare keeper or a retirement can each
read them), counts the audio seconds it delivered, and knows when it last sent an input event
and so when it needs a keep-alive. Every time is the running event loop's clock, so a virtual
clock drives keep-alive and rollover in tests.
"""

from __future__ import annotations

import asyncio

from polly_pipeline.audio import AudioClock, AudioFormat
from polly_pipeline.client.stream import SpeechSynthesisStream
from polly_pipeline.protocol.events import OutputEvent

__all__ = ["StreamLink", "now"]


def now() -> float:
    """The running event loop's clock, in seconds (every session timing uses it)."""
    return asyncio.get_running_loop().time()


class StreamLink:
    """One Polly stream, with a task pumping its output events into :attr:`events`.

    Args:
        stream: the open stream (the link closes it).
        number: the stream's number in the session.
        fmt: the session's audio format, for the audio clock.

    Attributes:
        events: output events in order, then None at a clean end or the exception that ended it.
        clock: seconds of audio received.
        error: the exception that ended the stream, if one did.
        pump: the task filling :attr:`events` (owned by the link: :meth:`close` ends it).
    """

    def __init__(self, stream: SpeechSynthesisStream, number: int, fmt: AudioFormat) -> None:
        self.stream = stream
        self.number = number
        self.opened_at = now()
        self.last_sent = self.opened_at
        self.events: asyncio.Queue[OutputEvent | BaseException | None] = asyncio.Queue()
        self.clock = AudioClock(fmt.output_format, fmt.sample_rate)
        self.error: BaseException | None = None
        self.pump = asyncio.create_task(self._pump(), name=f"polly-link-{number}")

    def __repr__(self) -> str:
        return f"<StreamLink {self.number} age={self.age:.1f}s error={self.error!r}>"

    async def send_text(self, text: str, *, flush: bool) -> None:
        """Send one TextEvent."""
        await self.stream.send_text(text, flush=flush)
        self.last_sent = now()

    async def keep_alive(self) -> None:
        """Send an empty TextEvent (inaudible, billed nothing) so the service keeps the stream."""
        await self.stream.keep_alive()
        self.last_sent = now()

    async def end_input(self) -> None:
        """Close the input side: the service sends the remaining audio, then closes."""
        await self.stream.end_input()

    def keepalive_due(self, interval: float) -> float:
        """Seconds until this stream needs a keep-alive."""
        return max(0.0, self.last_sent + interval - now())

    @property
    def age(self) -> float:
        """Seconds since the stream opened."""
        return now() - self.opened_at

    @property
    def healthy(self) -> bool:
        """Neither failed nor ended."""
        return self.error is None and not self.pump.done()

    async def _pump(self) -> None:
        try:
            async for event in self.stream:
                self.events.put_nowait(event)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc
            self.events.put_nowait(exc)
        else:
            self.events.put_nowait(None)

    async def close(self) -> None:
        """Stop the pump and close the stream (idempotent)."""
        self.pump.cancel()
        await asyncio.gather(self.pump, return_exceptions=True)
        await self.stream.aclose()
