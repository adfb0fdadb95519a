"""Text layer: where a grapheme cluster ends, for cuts inside a word (pure functions).

A cut that must fall inside a word (a run longer than ``max_chars`` without whitespace) backs
off to the end of a grapheme cluster: what a listener hears as one character. The rules are
those of UAX #29 that matter for speech, simplified (see :func:`inside_grapheme`).
"""

from __future__ import annotations

import unicodedata
from typing import Final

from polly_pipeline.text._emoji import GLUE, ZWJ

__all__ = ["MAX_GRAPHEME", "inside_grapheme"]

#: Longer runs of joined characters are split (emoji ZWJ sequences stay well below).
MAX_GRAPHEME: Final = 32
#: Unicode categories of marks that belong to the character before them.
_MARKS: Final = frozenset({"Mn", "Mc", "Me"})
#: Viramas of the Indic scripts (Devanagari to Malayalam): a conjunct goes on after them.
_VIRAMAS: Final = frozenset("\u094d\u09cd\u0a4d\u0acd\u0b4d\u0bcd\u0c4d\u0ccd\u0d4d")


def inside_grapheme(buf: str, c: int) -> bool:
    """Whether a cut before ``buf[c]`` (``c >= 1``) splits a grapheme cluster.

    The rules of UAX #29 that matter for speech, simplified: marks (``Mn Mc Me``: accents,
    Indic vowel signs and viramas), emoji glue and skin tones belong to what precedes them;
    nothing is cut after a zero-width joiner (emoji ZWJ sequences) or a virama (Indic
    conjuncts such as "क्ष"); regional indicators pair up into flags; conjoining Hangul jamo
    stay one syllable.
    """
    ch, prev = buf[c], buf[c - 1]
    cp, pp = ord(ch), ord(prev)
    if ch in GLUE or prev == ZWJ or prev in _VIRAMAS or 0x1F3FB <= cp <= 0x1F3FF:
        return True
    if unicodedata.category(ch) in _MARKS:
        return True
    if 0x1160 <= cp <= 0x11FF or 0xD7B0 <= cp <= 0xD7FF:  # a vowel or final jamo
        return True
    if 0x1100 <= pp <= 0x115F or 0xA960 <= pp <= 0xA97F:  # after an initial jamo
        return 0x1100 <= cp <= 0x115F or 0xAC00 <= cp <= 0xD7A3
    if _is_regional(cp) and _is_regional(pp):
        run = 1  # regional indicators before ``c``: an odd count leaves half a flag
        while run < c and _is_regional(ord(buf[c - 1 - run])):
            run += 1
        return run % 2 == 1
    return False


def _is_regional(cp: int) -> bool:
    """Whether code point ``cp`` is a regional indicator (half of a flag)."""
    return 0x1F1E6 <= cp <= 0x1F1FF
