"""Text layer: the inline half of the markdown cleaner (emphasis, code, links, tags, emoji).

:class:`InlineLexer` turns the text of one line (after its block prefix) into speech through
a :class:`SpeechWriter`; bare URLs are read by :mod:`._urls`, entities and tags by
:mod:`._markup`. It consumes one token per :meth:`InlineLexer.step` and refuses
(returns -1) when the characters seen so far cannot decide it yet; it never consumes a
newline, which belongs to the block level.
"""

from __future__ import annotations

import re
import string
from typing import Final, Literal

from polly_pipeline.text._emoji import EMOJI_CLASS, GLUE, ZWJ, is_emoji
from polly_pipeline.text._markup import HOLD, read_angle, read_entity
from polly_pipeline.text._urls import URL_PREFIXES, URL_START, BareUrl
from polly_pipeline.text._writer import SpeechWriter

__all__ = ["HOLD", "InlineLexer", "LineKind", "run_end"]

LineKind = Literal["para", "quote", "item", "heading", "table"]

#: Runs of markers (``*``, ``_``, ``~``, backticks) are taken in pieces of at most this size.
_RUN_CAP: Final = 32

_SPACES: Final = re.compile(r"[^\S\n]+")
_PLAIN: Final = re.compile(rf"[^\s*_~`\[\]!<\\|#&{EMOJI_CLASS}]+")
_CODE_TEXT: Final = re.compile(rf"[^\s`{EMOJI_CLASS}]+")
_CLOSING_HASHES: Final = re.compile(r"#{1,32}[^\S\n]{0,32}")
_SKIP_URL: Final = re.compile(r"[^()\n]+")
_SKIP_REF: Final = re.compile(r"[^\]\n]+")
_ASCII_PUNCT: Final = frozenset(string.punctuation)


class InlineLexer:
    """Inline markdown of one line at a time, written as speech; see the module docstring."""

    def __init__(self, writer: SpeechWriter, *, drop_emoji: bool, speak_links: bool) -> None:
        self._w = writer
        self._drop_emoji = drop_emoji
        self._speak_links = speak_links
        #: True once no more input will come (decide with what is there).
        self.final = False
        self._s = ""
        self._i = 0
        self._kind: LineKind = "para"
        self._url = BareUrl(writer)
        self.start_line("para")

    def start_line(self, kind: LineKind) -> None:
        """Begin the inline text of a line of the given block kind."""
        self._kind = kind
        self._prev = ""
        self._code = 0
        self._url.reset()
        self._skip = 0
        self._skip_ref = False
        self._brackets: list[bool] = []
        self._emoji = False
        self._line_mark = self._w.emitted
        self._first_strong = False
        self._strong_mark = -1

    def end_line(self) -> bool:
        """Close what the line left open; return whether the line was all bold (a heading)."""
        while self._brackets:
            if self._brackets.pop():
                self._w.undivert(keep=True)
        emitted = self._w.emitted
        return self._first_strong and self._strong_mark == emitted > self._line_mark

    def step(self, s: str, i: int) -> int:
        """Consume one token of ``s`` at ``i`` (not a newline); the new position, or -1."""
        self._s, self._i = s, i
        if not self._token():
            return -1
        if self._i > i:  # a reader may hand back the cursor unmoved (a URL that just ended)
            self._prev = s[self._i - 1]
        return self._i

    def _token(self) -> bool:
        """Consume one token at the cursor; False when more input must decide it."""
        s, i = self._s, self._i
        c = s[i]
        was_emoji, self._emoji = self._emoji, False
        if self._skip:
            return self._skip_link_target(s, i, c)
        if self._skip_ref:
            if c == "]":
                self._skip_ref = False
                self._i = i + 1
            else:
                self._i = _SKIP_REF.match(s, i).end()  # type: ignore[union-attr]
            return True
        if self._url.part:  # before emoji: an emoji ends the URL, however it was chunked
            return self._advance(self._url.step(s, i, self.final))
        if c in GLUE or is_emoji(c):
            return self._emoji_char(c, was_emoji)
        if self._code:
            return self._code_span(s, i, c)
        if c.isspace():
            self._w.space()
            self._i = _SPACES.match(s, i).end()  # type: ignore[union-attr]
            return True
        if c in "*_~":
            return self._emphasis(s, i, c)
        if c == "`":
            k = run_end(s, i, i + _RUN_CAP)
            if k == len(s) and not self.final:
                return False
            self._code = k - i
            self._i = k
            return True
        if c in "[]!":
            return self._bracket(s, i, c)
        if c == "<":
            return self._advance(read_angle(s, i, self._w, final=self.final))
        if c == "&":
            return self._advance(
                read_entity(s, i, self._w, final=self.final, drop_emoji=self._drop_emoji)
            )
        if c == "\\":
            if i + 1 == len(s) and not self.final:
                return False
            nxt = s[i + 1 : i + 2]
            if nxt == "\n":
                self._w.space()
                self._i = i + 1
            elif nxt in _ASCII_PUNCT and nxt:
                self._w.emit(nxt)
                self._i = i + 2
            else:
                self._w.emit("\\")
                self._i = i + 1
            return True
        if c == "|" and self._kind == "table":
            if self._w.emitted > self._line_mark:
                self._w.cell()
            self._i = i + 1
            return True
        if c == "#" and self._kind == "heading" and (self._prev == "" or self._prev.isspace()):
            m = _CLOSING_HASHES.match(s, i)
            assert m is not None
            if m.end() == len(s) and not self.final:
                return False
            if m.end() == len(s) or s[m.end()] == "\n":
                self._i = m.end()  # a closing sequence: "## Title ##"
                return True
        if c in "hHwW" and not self._prev.isalnum():
            head = s[i : i + 8].lower()
            if head.startswith(URL_PREFIXES):
                self._i = self._url.begin(s, i)
                return True
            if (
                i + len(head) == len(s)
                and not self.final
                and any(p.startswith(head) for p in URL_PREFIXES)
            ):
                return False
        return self._plain(s, i, c)

    def _advance(self, k: int) -> bool:
        """Move the cursor to ``k`` from a reader; False (wait) when it returned -1."""
        if k < 0:
            return False
        self._i = k
        return True

    def _plain(self, s: str, i: int, c: str) -> bool:
        m = _PLAIN.match(s, i)
        if m is None:  # a special character that is literal here ('#', '|')
            self._w.emit(c)
            self._i = i + 1
            return True
        run = m.group()
        url = URL_START.search(run, 1)
        if url is not None:
            run = run[: url.start()]
        elif m.end() == len(s) and not self.final:
            # hold a possible URL prefix at the end ("(htt" may become "(https://")
            for k in range(max(0, len(run) - 8), len(run)):
                before = run[k - 1] if k else self._prev
                tail = run[k:].lower()
                if not before.isalnum() and any(p.startswith(tail) for p in URL_PREFIXES):
                    if not k:
                        return False
                    run = run[:k]
                    break
        self._w.emit(run)
        self._i = i + len(run)
        return True

    def _emoji_char(self, c: str, was_emoji: bool) -> bool:
        self._i += 1
        if not self._drop_emoji or (c == ZWJ and not was_emoji):
            self._w.emit(c)
        elif c in GLUE:
            self._emoji = was_emoji
        else:
            self._w.space()
            self._emoji = True
        return True

    def _emphasis(self, s: str, i: int, c: str) -> bool:
        k = run_end(s, i, i + _RUN_CAP)
        if k == len(s) and not self.final:
            return False
        n = k - i
        prev, nxt = self._prev, s[k : k + 1]
        prev_space, next_space = _spacy(prev), _spacy(nxt)
        if c == "~":
            literal = n != 2 or (prev_space and next_space)
        elif c == "_":
            literal = (prev.isalnum() and nxt.isalnum()) or (prev_space and next_space)
        else:
            literal = prev_space and next_space
        if literal:
            self._w.emit(c * n)
        elif n >= 2 and c != "~":
            if self._w.emitted == self._line_mark:
                self._first_strong = True
            self._strong_mark = self._w.emitted
        self._i = k
        return True

    def _code_span(self, s: str, i: int, c: str) -> bool:
        if c == "`":
            k = run_end(s, i, i + _RUN_CAP)
            if k == len(s) and not self.final:
                return False
            if k - i == self._code:
                self._code = 0
            else:
                self._w.emit(s[i:k])
            self._i = k
        elif c.isspace():
            self._w.space()
            self._i = _SPACES.match(s, i).end()  # type: ignore[union-attr]
        else:
            m = _CODE_TEXT.match(s, i)
            assert m is not None
            self._w.emit(m.group())
            self._i = m.end()
        return True

    def _bracket(self, s: str, i: int, c: str) -> bool:
        if c == "[":
            if i + 1 == len(s) and not self.final:
                return False
            if s[i + 1 : i + 2] == "^":  # a footnote reference "[^1]" is not spoken
                self._skip_ref = True
                self._i = i + 2
                return True
            diverted = not self._speak_links
            self._brackets.append(diverted)
            if diverted:
                self._w.divert()
            self._i = i + 1
            return True
        if i + 1 == len(s) and not self.final:
            return False
        nxt = s[i + 1 : i + 2]
        if c == "!":
            if nxt == "[":
                self._brackets.append(False)  # an image: its alt text is spoken
                self._i = i + 2
            else:
                self._w.emit("!")
                self._i = i + 1
            return True
        # "]": brackets themselves are silent; a following "(url)" or "[ref]" is dropped
        if not self._brackets:
            self._i = i + 1
            return True
        diverted = self._brackets.pop()
        is_link = nxt in ("(", "[")
        if diverted:
            self._w.undivert(keep=not is_link)
        if nxt == "(":
            self._skip = 1
            self._i = i + 2
        elif nxt == "[":
            self._skip_ref = True
            self._i = i + 2
        else:
            self._i = i + 1
        return True

    def _skip_link_target(self, s: str, i: int, c: str) -> bool:
        if c == "(":
            self._skip += 1
            self._i = i + 1
        elif c == ")":
            self._skip -= 1
            self._i = i + 1
        else:
            self._i = _SKIP_URL.match(s, i).end()  # type: ignore[union-attr]
        return True


def run_end(s: str, i: int, end: int) -> int:
    """The end of the run of ``s[i]`` characters starting at ``i`` (not past ``end``)."""
    c = s[i]
    k = i + 1
    end = min(end, len(s))
    while k < end and s[k] == c:
        k += 1
    return k


def _spacy(ch: str) -> bool:
    """Whether ``ch`` (a previous or next character, '' at a line edge) separates words."""
    return not ch or ch.isspace() or ch in GLUE or is_emoji(ch)
