"""Text layer: whether a period, question or exclamation mark ends a sentence (pure rules).

:func:`judge_end` decides a sentence-end candidate by rule, from the word before it, the
character after the whitespace and the language's :class:`~polly_pipeline.text.languages.
LanguageRules`: :data:`CUT` (certainly a sentence end), :data:`NO` (certainly not) or
:data:`ASK` (the language leaves it open: the segmenter asks pysbd, or, for a language pysbd
lacks, does not cut). The punctuation the segmenter recognises is defined here too.
"""

from __future__ import annotations

import re
from typing import Final

from polly_pipeline.text.languages import LanguageRules

__all__ = ["ASK", "CLAUSE", "CUT", "NO", "TERMINAL", "judge_end"]

#: The verdicts on a sentence-end candidate.
CUT, NO, ASK = range(3)

_CLOSING: Final = "\"'”“’)]}»«」』）】〕"
_CLOSE_CLASS: Final = f"[{re.escape(_CLOSING)}]*"
#: A word that ends with a sentence mark (and closing quotes or brackets).
TERMINAL: Final = re.compile(rf"[.!?…。！？｡]{_CLOSE_CLASS}\Z")
#: A word that ends a clause (comma, semicolon, colon) or is a dash.
CLAUSE: Final = re.compile(rf"[,;:，、､；：]{_CLOSE_CLASS}\Z|\A(?:[—–]|--?)\Z|—\Z")
_LEADING: Final = "([{\"'“„‘«»¿¡「『（【"
#: Characters that begin a sentence after a terminal mark and whitespace, besides letters
#: without case (CJK, Hangul, Arabic, Devanagari, ...) and capitals.
_STARTERS: Final = frozenset('"“„‘«¿¡([「『（【')
#: Words made of dotted letter groups ("U.S.", "e.g.", "d.w.z.", "o.s.frv."): abbreviations.
_DOTTED: Final = re.compile(r"(?:[^\W\d_]{1,4}\.)+[^\W\d_]{1,4}")


def judge_end(word: str, nxt: str, lang: LanguageRules) -> int:
    """Judge a sentence end by rule: ``word`` ends with a terminal mark, whitespace and
    ``nxt`` (a newline when the whitespace holds one) follow.

    Cut when ``nxt`` can only start a sentence and ``word`` is no abbreviation, initial,
    ordinal or ellipsis; never before a lowercase letter or a digit ("e.g. the", "Jan. 1",
    "5 p. m. del lunes") nor after a title or the like ("Sr. García", "inkl. Steuer"); ask
    about the rest. A word with inner periods is an abbreviation only if it is made of short
    letter groups ("U.S.", "d.w.z."); a host name, e-mail address or decimal ends like a word.
    """
    if nxt.isdigit() or nxt.islower():
        return NO
    if not (nxt == "\n" or nxt.isupper() or nxt.isalpha() or nxt in _STARTERS):
        return ASK  # a symbol ("$5", "- item", "*"): let pysbd decide
    core = word.rstrip(_CLOSING)
    if core[-1] in "!?！？":
        return CUT
    if core[-1] == "…" or core.endswith(".."):
        return ASK  # "Wait... What?" or a trailing-off sentence
    stem = core[:-1].lstrip(_LEADING)
    lower = stem.lower()
    if lower in lang.never_final:
        return NO
    if not stem or (len(stem) == 1 and stem.isalpha()) or _DOTTED.fullmatch(stem):
        return ASK  # "U.S.", "e.g.", an initial
    if stem.replace(".", "").isdigit():  # "1945.", "1.1.2020."
        return ASK if lang.ordinal_dots else CUT
    if lower in lang.abbreviations:
        return ASK
    return CUT
