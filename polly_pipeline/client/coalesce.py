"""Client layer: plain text into TextEvents: short text that cannot start speech is held briefly
and merged into one event (:class:`HeldText`), text too long for one is cut (:func:`split_text`).

Without ``Force`` the service synthesizes buffered text only at natural language boundaries
(sentence and clause ends). A model streams an answer token by token, and most tokens (" the",
" stream") contain no such boundary: sending each as its own TextEvent costs one signed frame,
one awscrt write and one wake-up of awscrt's thread per token, and makes the service speak no
sooner. So :class:`HeldText` holds such a token and merges it with the plain text that follows
into one TextEvent, and everything held goes out, in order, as soon as anything could make the
service speak or must reach it:

- an event that is not *holdable* (:func:`holdable`): text with any character other than
  letters, digits and plain spaces (any punctuation of any script, ``。`` and ``、`` as well as
  ``.`` and ``,``, any newline or other whitespace, any symbol), a flush, SSML, an empty or
  whitespace-only event (a keep-alive). Plain text and an empty flush are merged into the held
  text (so a flush carries all earlier text); SSML and whitespace-only events go out as their
  own events right after it, in the same write (SSML must be a whole document, and the service
  bills no whitespace-only event, while merged its whitespace would be billed);
- the end of the input (``end_input``);
- the held text would grow past :data:`MAX_HELD_CHARS` characters (a TextEvent holds at most
  6,000);
- the *linger* passed since the first held character (:data:`DEFAULT_LINGER`, 50 ms; 0 turns
  coalescing off; at most :data:`MAX_LINGER`, 1 s, since held text is no input event for the
  service and so does not keep the stream alive).

**Audio latency.** Held text has no boundary, so the service would not have spoken it before
the next boundary, flush or end of input arrived, and each of those releases the hold at once,
in the same write: the audio of a sentence starts no later than without coalescing. The linger
only bounds how long text sits in the client when nothing follows it; 50 ms is below a
listener's notice, keeps the stream's idle time (the service ends a stream after 5 s without an
input event; keep-alives are due after 3 s) practically unchanged, and at a fast model's pace
(a token every 2-20 ms) merges 3-25 tokens into one event.

**Failure.** Text is checked (length, type) and the stream's state is checked when the caller
sends it, as without coalescing. If the stream fails or is closed while text is held, the held
text is not sent, like events queued and not yet written: a session resends from its resume
point, judged on the audio received (held text produced none).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.protocol.events import TextEvent
from polly_pipeline.protocol.params import MAX_EVENT_TEXT_CHARS as _MAX_EVENT

__all__ = [
    "DEFAULT_LINGER",
    "MAX_HELD_CHARS",
    "MAX_LINGER",
    "HeldText",
    "check_linger",
    "holdable",
    "split_text",
]

#: Seconds plain text without a boundary may wait for more before it is sent anyway.
DEFAULT_LINGER = 0.05
#: The longest linger allowed (seconds); held text does not keep a stream alive.
MAX_LINGER = 1.0
#: The held text is sent before it would grow past this many characters.
MAX_HELD_CHARS = 1000
#: A character that may end a sentence or clause, or anything unusual: only letters, digits
#: (``\w`` less the underscore, a connector punctuation mark) and the plain space are not.
_MAY_BREAK = re.compile(r"[^\w ]|_")


def holdable(event: TextEvent) -> bool:
    """Whether ``event`` cannot start speech: plain, unflushed text of letters, digits and
    spaces with at least one letter or digit, shorter than :data:`MAX_HELD_CHARS`."""
    text = event.text
    return (
        isinstance(text, str)
        and event.text_type == "text"
        and not event.flush
        and 0 < len(text) < MAX_HELD_CHARS
        and _MAY_BREAK.search(text) is None
        and not text.isspace()
    )


def check_linger(linger: float) -> float:
    """``linger`` if it is a number of seconds from 0 to :data:`MAX_LINGER`, else
    ConfigurationError."""
    if isinstance(linger, bool) or not isinstance(linger, int | float) or not linger >= 0:
        raise ConfigurationError(
            f"coalesce (seconds plain text may wait to be merged) must be >= 0, got {linger!r}"
        )
    if linger > MAX_LINGER:
        raise ConfigurationError(
            f"coalesce={linger!r} is too long: held text is no input event for the service, "
            f"which ends a stream after 5 s without one; use at most {MAX_LINGER:g} s"
        )
    return float(linger)


class HeldText:
    """Plain text held back from the wire, and the timer that sends it after the linger.

    Args:
        linger: seconds the first held character may wait (0: nothing is ever held).
        release: called when the linger passed; it takes the text (:meth:`take`) and sends it.
    """

    def __init__(self, linger: float, release: Callable[[], None]) -> None:
        self.linger = check_linger(linger)
        self._release = release
        self._parts: list[str] = []
        self._chars = 0
        self._timer: asyncio.TimerHandle | None = None

    def __bool__(self) -> bool:
        return bool(self._parts)

    def room_for(self, text: str) -> bool:
        """Whether ``text`` may join the held text without passing :data:`MAX_HELD_CHARS`."""
        return self._chars + len(text) <= MAX_HELD_CHARS

    def hold(self, text: str) -> None:
        """Hold ``text`` after what is held; the first text starts the linger."""
        if not self._parts:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(loop.time() + self.linger, self._expired)
        self._parts.append(text)
        self._chars += len(text)

    def take(self) -> str:
        """Everything held, in order ("" if nothing); stops the linger."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        text = "".join(self._parts)
        self._parts.clear()
        self._chars = 0
        return text

    def with_held(self, event: TextEvent) -> tuple[TextEvent, ...]:
        """The events to send for ``event`` (a valid one): what is held first, merged with it
        unless it is SSML, whitespace (a keep-alive, unbilled: merged it would be billed), or
        the two exceed a TextEvent. An empty flush takes the held text along."""
        if not self._parts:
            return (event,)
        held, text = self.take(), event.text
        plain = text.strip() or (event.flush and not text)
        if event.text_type != "text" or not plain or len(held) + len(text) > _MAX_EVENT:
            return TextEvent(held), event
        return (TextEvent(held + text, "text", event.flush),)

    def _expired(self) -> None:
        self._timer = None
        self._release()


def split_text(text: str, limit: int = _MAX_EVENT) -> list[str]:
    """Cut text into pieces of at most ``limit`` characters, at whitespace where possible.

    The pieces concatenate back to ``text`` exactly (whitespace is kept, so the service reads
    words across pieces correctly).
    """
    parts: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit))
        cut = cut + 1 if cut > 0 else limit
        parts.append(text[:cut])
        text = text[cut:]
    if text or not parts:
        parts.append(text)
    return parts
