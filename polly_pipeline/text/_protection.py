"""Text layer: what the segmenter must not cut inside: brackets, quotes and tags (sans-IO).

:class:`Protection` follows the words the segmenter has scanned and says whether a place is
protected: inside brackets or quotes opened in the last 250 characters (``(see Fig. 2.)``,
``"Stop. Now," she said``, „Halt. Jetzt!“, 「雨だ。傘を持って。」), or inside a tag
(``<break time="1s"/>``). Brackets and quotes opened longer ago no longer protect: they are
stray or unmatched, and must not hold speech back for the rest of the turn.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["Protection", "tag_after"]

_PROTECTORS: Final = re.compile(r"[()\[\]{}\"“”„«»<>「」『』（）【】〔〕]")
_ANGLES: Final = re.compile(r"[<>]")
_OPENERS: Final = "([{「『（【〔"
_CLOSERS: Final = ")]}」』）】〕"
#: Quotes that open, each with the marks that close it: "…", “…” (English), „…“ (German),
#: «…» (French), »…« (German) and »…» (Swedish, Finnish).
_QUOTE_CLOSERS: Final = {'"': '"', "“": "”", "„": "“”", "«": "»", "»": "«»"}
#: Brackets or quotes opened longer ago than this no longer protect (stray or unmatched).
_PROTECT_SPAN: Final = 250


class Protection:
    """Open brackets, quotes and tags of one turn, by absolute offset in the turn."""

    __slots__ = ("_brackets", "_quotes", "tag")

    def __init__(self) -> None:
        self._brackets: list[int] = []  # offsets of open brackets
        self._quotes: list[tuple[int, str]] = []  # open quotes: offset, closing marks
        #: Whether a tag is open (everything up to its ``>`` is protected).
        self.tag = False

    def covers(self, at: int) -> bool:
        """Whether a cut at offset ``at`` falls inside recent brackets or quotes."""
        return bool(self._brackets and at - self._brackets[-1] <= _PROTECT_SPAN) or bool(
            self._quotes and at - self._quotes[-1][0] <= _PROTECT_SPAN
        )

    def track(self, word: str, base: int) -> None:
        """Follow brackets, quotes and tags through ``word``, which starts at offset ``base``."""
        if _PROTECTORS.search(word) is None:
            return
        for m in _PROTECTORS.finditer(word):
            ch = m.group()
            pos = base + m.start()
            if self.tag:
                if ch == ">":
                    self.tag = False
            elif ch in _OPENERS:
                self._brackets.append(pos)
            elif ch in _CLOSERS:
                if self._brackets:
                    self._brackets.pop()
            elif self._quotes and ch in self._quotes[-1][1]:
                self._quotes.pop()
            elif ch in _QUOTE_CLOSERS:
                self._quotes.append((pos, _QUOTE_CLOSERS[ch]))
            elif ch == "<":
                nxt = word[m.end() : m.end() + 1]
                self.tag = nxt.isalpha() or nxt in ("/", "!", "?")


def tag_after(word: str, in_tag: bool) -> bool:
    """Whether a tag is open after ``word``, given whether one was open before it."""
    for m in _ANGLES.finditer(word):
        if in_tag:
            in_tag = m.group() != ">"
        elif m.group() == "<":
            nxt = word[m.end() : m.end() + 1]
            in_tag = nxt.isalpha() or nxt in ("/", "!", "?")
    return in_tag
