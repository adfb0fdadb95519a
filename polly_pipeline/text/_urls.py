"""Text layer: bare URLs and autolinks in the markdown cleaner speak their host name.

A listener wants to hear where a link goes ("docs.aws.amazon.com"), not its path spelled out
character by character. :class:`BareUrl` reads a bare URL token by token once the inline lexer
has seen its prefix (``http://``, ``https://``, ``www.``); :func:`speakable_link` says what an
autolink (``<https://example.com/a>``) speaks. Punctuation right after a URL (a sentence's
period) is still spoken.
"""

from __future__ import annotations

import re
from typing import Final

from polly_pipeline.text._emoji import EMOJI_CLASS
from polly_pipeline.text._writer import SpeechWriter

__all__ = ["URL_PREFIXES", "URL_START", "BareUrl", "speakable_link"]

#: Where a bare URL starts inside a run of plain text.
URL_START: Final = re.compile(r"(?<![A-Za-z0-9])(?:https?://|www\.)", re.IGNORECASE)
#: What a bare URL starts with (lower case).
URL_PREFIXES: Final = ("http://", "https://", "www.")
_URL_TEXT: Final = re.compile(rf"[^\s<>\"`*\[\]|{EMOJI_CLASS}]+")
_URL_SCHEME: Final = re.compile(r"https?://", re.IGNORECASE)
#: A URL's host name (IDN letters included), spoken in place of the whole URL.
_URL_HOST: Final = re.compile(r"[\w.-]+")
#: Punctuation that ends the sentence around a URL rather than belonging to it.
_URL_TRAILING: Final = re.compile(r"[)\].,;:!?]+\Z")
_HOST_PART, _REST = 1, 2


class BareUrl:
    """The bare URL being read, if any: its host name is spoken, the rest skipped."""

    def __init__(self, writer: SpeechWriter) -> None:
        self._w = writer
        self.reset()

    def reset(self) -> None:
        """Forget the URL being read (a new line)."""
        #: 0 outside a URL, else the part being read (host name or the rest).
        self.part = 0
        self._start = False  # at the start of the host ("www." not yet looked at)
        self._parens = 0  # brackets opened inside the skipped part of the URL

    def begin(self, s: str, i: int) -> int:
        """Start reading the URL whose prefix is at ``i``; the position after its scheme."""
        scheme = _URL_SCHEME.match(s, i)
        self.part = _HOST_PART
        self._start = True
        self._parens = 0
        return scheme.end() if scheme is not None else i

    def step(self, s: str, i: int, final: bool) -> int:
        """Read on inside the URL from ``i``; the new position, or -1 while undecided."""
        if self.part == _HOST_PART:
            if self._start:
                head = s[i : i + 4].lower()
                if head == "www.":
                    self._start = False
                    return i + 4
                if len(head) < 4 and "www."[: len(head)] == head and not final:
                    return -1  # "ww" may become "www."
                self._start = False
            m = _URL_HOST.match(s, i)
            if m is None:
                self.part = _REST if _URL_TEXT.match(s, i) else 0
                return i
            end = m.end()
            if end == len(s) and not final:
                end = i + len(m.group().rstrip("."))  # a trailing "." may end the sentence
                if end == i:
                    return -1
            self._w.emit(s[i:end])
            return end
        m = _URL_TEXT.match(s, i)
        if m is None:
            self.part = 0
            return i
        run = m.group()
        trailing = _URL_TRAILING.search(run)
        body = run[: trailing.start()] if trailing is not None else run
        self._parens += body.count("(") - body.count(")")
        if m.end() == len(s) and not final:
            if not body:
                return -1  # only punctuation so far: it may still be part of the URL
            return i + len(body)  # hold the punctuation until the URL is known to end
        if trailing is not None:
            spoken = []
            for ch in trailing.group():
                if ch == ")" and self._parens > 0:
                    self._parens -= 1
                else:
                    spoken.append(ch)
            if spoken:
                self._w.emit("".join(spoken))
        self.part = 0
        return m.end()


def speakable_link(target: str) -> str:
    """What an autolink (``<https://example.com/a>``) says: the host name, or the address."""
    scheme = _URL_SCHEME.match(target)
    if scheme is None and not target.lower().startswith("www."):
        return target.removeprefix("mailto:")
    rest = target[scheme.end() :] if scheme is not None else target
    if rest.lower().startswith("www."):
        rest = rest[4:]
    host = _URL_HOST.match(rest)
    return host.group().rstrip(".") if host is not None else target
