"""Session layer: the stream link, one Polly stream as the session uses it.

A link owns one :class:`~polly_pipeline.client.stream.SpeechSynthesisStream` and a task that
pumps its output events into a queue (so a turn, the spare keeper or a retirement can each
read them), counts the audio seconds it delivered, and knows when it last sent an input event
and so when it needs a keep-alive. Every time is the running event loop's clock, so a virtual
clock drives keep-alive and rollover in tests.

**Keep-alive that adapts.** A link keeps its stream alive with an empty TextEvent. When the
service rejects one (a ``ValidationException`` naming the text), the session's
:class:`KeepAliveText` switches to a single space for all its streams from then on. A space is
only sent where it cannot split a word: on a stream that carried no text yet, after text that
ends in whitespace (or a Chinese or Japanese punctuation mark) or a flush (which already ended
the service's buffered text), or before text that begins with whitespace; the turn driver holds
back a trailing partial word so that such a point is always there when a keep-alive is due.
"""

from __future__ import annotations

import asyncio
import logging
import re

from polly_pipeline.audio import AudioClock, AudioFormat
from polly_pipeline.client.stream import SpeechSynthesisStream
from polly_pipeline.errors import ValidationException
from polly_pipeline.protocol.events import OutputEvent
from polly_pipeline.session.ledger import ends_between_words
from polly_pipeline.session.tasks import SessionTasks

__all__ = ["KeepAliveText", "StreamLink", "empty_text_rejected", "now"]

log = logging.getLogger("polly_pipeline.session")

#: A validation message about the text ("text", "Text", "textEvent.text").
_NAMES_TEXT = re.compile(r"\btext\b", re.IGNORECASE)


def now() -> float:
    """The running event loop's clock, in seconds (every session timing uses it)."""
    return asyncio.get_running_loop().time()


def empty_text_rejected(error: BaseException) -> bool:
    """Whether ``error`` is the service refusing a TextEvent's text.

    A ``ValidationException`` whose fields name the text, or without fields, whose message
    does (e.g. "Value '' at 'textEvent.text' failed to satisfy constraint").

    Only meaningful for a stream that sent an empty TextEvent: on such a stream it is the
    rejection of the empty text, which a space avoids; every other validation error is not.
    """
    if not isinstance(error, ValidationException):
        return False
    if error.fields:
        return any(field.name.lower().endswith("text") for field in error.fields)
    return _NAMES_TEXT.search(error.message) is not None


class KeepAliveText:
    """The text a session keeps its idle streams alive with, shared by all its links.

    Attributes:
        text: ``""`` (an empty TextEvent) until the service rejects one, then ``" "``.
    """

    def __init__(self) -> None:
        self.text = ""

    @property
    def spaced(self) -> bool:
        """Whether keep-alives (and bare flushes) carry a space instead of nothing."""
        return self.text != ""

    def switch_to_space(self) -> None:
        """From now on keep streams alive with a space (at word boundaries only)."""
        if not self.spaced:
            self.text = " "
            log.info(
                "the service rejected an empty TextEvent; keeping streams alive with a space "
                "at word boundaries from now on"
            )


class StreamLink:
    """One Polly stream, with a task pumping its output events into :attr:`events`.

    Args:
        stream: the open stream (the link closes it).
        number: the stream's number in the session.
        fmt: the session's audio format, for the audio clock.
        tasks: the session's task owner (the pump is its task; :meth:`close` ends it sooner).

    Attributes:
        events: output events in order, then None at a clean end or the exception that ended it.
        clock: seconds of audio received.
        error: the exception that ended the stream, if one did.
        pump: the task filling :attr:`events` (owned by the link: :meth:`close` ends it).
    """

    def __init__(
        self,
        stream: SpeechSynthesisStream,
        number: int,
        fmt: AudioFormat,
        keepalive: KeepAliveText | None = None,
        *,
        tasks: SessionTasks,
    ) -> None:
        self.stream = stream
        self.number = number
        self.keepalive = keepalive or KeepAliveText()
        self.opened_at = now()
        self.last_sent = self.opened_at
        #: an empty TextEvent went out on this stream (a keep-alive or a bare flush)
        self.sent_empty = False
        #: a space sent now cannot split a word (no text yet, or it ended between words)
        self.at_boundary = True
        self.events: asyncio.Queue[OutputEvent | BaseException | None] = asyncio.Queue()
        self.clock = AudioClock(fmt.output_format, fmt.sample_rate)
        self.error: BaseException | None = None
        self.pump = tasks.spawn(self._pump(), name=f"polly-link-{number}")

    def __repr__(self) -> str:
        return f"<StreamLink {self.number} age={self.age:.1f}s error={self.error!r}>"

    async def send_text(self, text: str, *, flush: bool) -> None:
        """Send one TextEvent (a bare flush carries the keep-alive text)."""
        if not text and flush:
            text = self.keepalive.text
        await self._send(text, flush=flush)
        if text or flush:
            self.at_boundary = flush or ends_between_words(text)

    async def keep_alive(self, next_text: str = "") -> None:
        """Send the keep-alive so the service keeps the stream (inaudible, never inside a word).

        An empty TextEvent, or once the service rejected one, a space where it fits
        (:meth:`space_fits`, ``next_text`` being the text that will follow); a stream whose
        text stops inside a word (it began before the switch) keeps the empty one.
        """
        fits = self.space_fits(next_text)
        await self._send(self.keepalive.text if fits else "", flush=False)

    def space_fits(self, next_text: str = "") -> bool:
        """Whether a space sent now falls between words: after text that ended between
        words (:attr:`at_boundary`), or before ``next_text`` beginning with whitespace."""
        return self.at_boundary or next_text[:1].isspace()

    def rejected_keepalive(self, error: BaseException) -> bool:
        """Whether ``error`` refused this stream's empty TextEvent; if so, switch to a space.

        Then the error is retryable: the turn resumes on a new stream that sends none.
        """
        if self.sent_empty and empty_text_rejected(error):
            self.keepalive.switch_to_space()
            return True
        return False

    async def _send(self, text: str, *, flush: bool) -> None:
        if not text:
            self.sent_empty = True
        await self.stream.send_text(text, flush=flush)
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
            self.rejected_keepalive(exc)  # learnt at once, whoever looks at the error
            self.events.put_nowait(exc)
        else:
            self.events.put_nowait(None)

    async def close(self) -> None:
        """Stop the pump and close the stream (idempotent)."""
        self.pump.cancel()
        await asyncio.gather(self.pump, return_exceptions=True)
        await self.stream.aclose()
