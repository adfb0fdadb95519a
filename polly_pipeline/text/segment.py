"""Text layer: an incremental sentence segmenter over pysbd (sans-IO).

:class:`Segmenter` cuts a stream of text into segments worth sending to Polly one at a
time. Every segment keeps the whitespace that followed it, so the segments of a turn
concatenate to exactly the text fed. Cuts depend only on the text, never on how it was
chunked.

How a cut is decided (cheaply: only the unfinished tail is kept, pysbd sees ~100 chars):

- Candidate boundaries are whitespace runs after ``. ! ? …`` (plus closing quotes or
  brackets), runs containing a newline, and CJK sentence marks ``。！？`` (no whitespace
  needed). Everything else (``3.14``, ``v1.2.3``, ``https://example.com/a.b?c=d``,
  ``a@b.com``, ``1.1.2020``) has no place to cut at.
- A candidate is judged by rule (:mod:`~polly_pipeline.text._sentence_end`) at the first
  character after the whitespace: a sentence end before a capital is cut at once, one
  before a lowercase letter or a digit never. Only where the language leaves it open
  (abbreviations, initials, ordinals) does it wait for the next word and ask pysbd whether
  a sentence starts there; a language pysbd lacks does not cut there. A line break after a
  sentence end, and a CJK sentence mark, settle it when they arrive.
- Never inside a tag (``<break time="1s"/>``), nor inside brackets or quotes opened in
  the last 250 characters (:mod:`~polly_pipeline.text._protection`).
- The first sentence goes out however short; later sentences shorter than ``min_chars``
  merge with the next one (except at flush).
- The first segment of a turn may be cut early at a clause boundary (``, ; : — 、，``) or
  after ``first_fragment_max_words`` words, once it has ``first_fragment_min_chars``. While
  :attr:`Segmenter.hurry` is set (the listener is about to run out of audio), any later
  segment may be cut early at a clause by the same rules (reason ``"catch_up"``).
- A segment that would exceed ``max_chars`` is cut at the best earlier place: a sentence
  boundary, a clause boundary, a word boundary outside brackets and digit groups, any
  word boundary outside a tag, the end of a tag, a space inside an overlong (or unclosed)
  tag, and only as a last resort inside a word, at the end of a grapheme cluster
  (:mod:`~polly_pipeline.text._graphemes`).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any, Final, Literal

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.text._graphemes import MAX_GRAPHEME, inside_grapheme
from polly_pipeline.text._protection import Protection, tag_after
from polly_pipeline.text._sentence_end import ASK, CLAUSE, CUT, NO, TERMINAL, judge_end

with warnings.catch_warnings():
    # pysbd 0.3.x has invalid escape sequences in regex literals; compiling its sources on a
    # fresh install warns (SyntaxWarning/DeprecationWarning), which is pysbd's business.
    warnings.simplefilter("ignore")
    import pysbd

from polly_pipeline.text.languages import LanguageRules, language_rules

__all__ = [
    "MAX_TEXT_EVENT_CHARS",
    "Segment",
    "SegmentReason",
    "Segmenter",
    "SegmenterOptions",
]

#: Polly's limit on the text of one TextEvent.
MAX_TEXT_EVENT_CHARS: Final = 6000

SegmentReason = Literal["sentence", "first_fragment", "catch_up", "max_length", "flush"]

_WS: Final = re.compile(r"\s+")
#: The next place a cut may go: a whitespace run (ending after its first line break, if it has
#: one), a CJK sentence end or a CJK comma.
_BREAK: Final = re.compile(r"[^\S\n]*\n|[^\S\n]+|[。！？｡]+|[、，､]")
#: pysbd sees at most about this much of the sentence before a candidate boundary.
_WINDOW: Final = 100
#: The lookahead word is cut off after this many characters.
_LOOKAHEAD: Final = 100
#: Ideographs, kana and Hangul: each weighs three characters of the first-fragment minimum.
_WIDE: Final = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")

# Fallback cut tiers for an over-long segment, best first.
_T_SENTENCE, _T_CLAUSE, _T_WORD, _T_ANY, _T_IN_TAG = range(5)


@dataclass(frozen=True)
class Segment:
    """A piece of text to speak, with the whitespace that followed it.

    Attributes:
        text: the text, including its trailing whitespace as fed.
        index: position of the segment within its turn (0 for the first).
        reason: why the segment ended where it did.
    """

    text: str
    index: int
    reason: SegmentReason


@dataclass(frozen=True)
class SegmenterOptions:
    """Where the segmenter may cut.

    Attributes:
        language: the language of the text: a Polly language code (``"de-DE"``, ``"ja-JP"``)
            or an ISO 639-1 code (``"de"``); see :mod:`polly_pipeline.text.languages`.
            ``None`` (the default) means English here; a :class:`~polly_pipeline.Pipeline`
            fills it in from its session's language or voice.
        min_chars: shorter sentences merge with the next one (except at flush).
        max_chars: hard cap on a segment's length (at most 6,000, Polly's TextEvent limit).
        first_fragment: allow the first segment of a turn to end early at a clause (and a
            later one while :attr:`Segmenter.hurry` is set).
        first_fragment_min_chars: the shortest early first segment.
        first_fragment_max_words: cut the first segment after this many words.
    """

    language: str | None = None
    min_chars: int = 20
    max_chars: int = 400
    first_fragment: bool = True
    first_fragment_min_chars: int = 24
    first_fragment_max_words: int = 12

    def __post_init__(self) -> None:
        if self.language is not None:
            language_rules(self.language)  # raises a ConfigurationError naming what is known
        ints = (
            "min_chars",
            "max_chars",
            "first_fragment_min_chars",
            "first_fragment_max_words",
        )
        for name in ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigurationError(f"{name} must be a non-negative integer, not {value!r}")
        if not 1 <= self.max_chars <= MAX_TEXT_EVENT_CHARS:
            raise ConfigurationError(
                f"max_chars must be between 1 and {MAX_TEXT_EVENT_CHARS} "
                f"(Polly's TextEvent limit), not {self.max_chars}"
            )
        if self.min_chars > self.max_chars:
            raise ConfigurationError(
                f"min_chars ({self.min_chars}) must not exceed max_chars ({self.max_chars})"
            )
        if self.first_fragment_max_words < 1:
            raise ConfigurationError("first_fragment_max_words must be at least 1")


class Segmenter:
    """Incremental sentence segmenter; one instance per conversation, reset per turn."""

    def __init__(self, options: SegmenterOptions = SegmenterOptions()) -> None:
        self._opts = options
        self._lang: LanguageRules = language_rules(options.language or "en")
        self._pysbd: Any = None
        #: Cut the segment being written at its next safe clause (the first fragment's rules,
        #: without its word cap): set by the caller while little audio is queued ahead of the
        #: listener (a :class:`~polly_pipeline.Pipeline` decides it). Survives ``reset``.
        self.hurry = False
        if self._lang.pysbd is not None:
            self._pysbd = pysbd.Segmenter(language=self._lang.pysbd, clean=False, char_span=True)
        self.reset()

    @property
    def pending(self) -> str:
        """The text fed but not yet returned in a segment."""
        return self._buf

    def reset(self) -> None:
        """Start a new turn: forget the pending text and all state."""
        self._buf = ""
        self._base = 0  # absolute offset of _buf[0] within the turn
        self._scan = 0  # start of the first word not yet looked at
        self._seen = 0  # the text before this holds no break after _scan
        self._sent = 0  # start of the current sentence (last accepted boundary)
        self._index = 0
        self._first = True
        self._words = 0
        self._guard = Protection()
        self._best = [0, 0, 0, 0, 0]  # latest fallback cut per tier (0: none)

    def feed(self, text: str) -> list[Segment]:
        """Add text; return the segments that are complete now."""
        if not text:
            return []
        self._buf += text
        return self._advance(final=False)

    def flush(self) -> list[Segment]:
        """End of turn: return the remaining segments (even a short one), then reset."""
        out = self._advance(final=True)
        if self._buf:
            out.append(Segment(self._buf, self._index, "flush"))
        self.reset()
        return out

    # --- the scan ----------------------------------------------------------------------

    def _advance(self, *, final: bool) -> list[Segment]:
        out: list[Segment] = []
        opts = self._opts
        while True:
            buf = self._buf
            n = len(buf)
            # past max_chars only whether a break starts in time matters: bound the search
            m = _BREAK.search(buf, max(self._scan, self._seen), opts.max_chars + 1)
            if n > opts.max_chars and (m is None or m.end() > opts.max_chars):
                out.append(self._force_cut(m))
                continue
            if m is None:
                self._seen = n  # no break before here: the next search starts here (linear)
                return out
            p = m.end()
            cjk = not m.group()[0].isspace()
            if cjk:  # a CJK sentence end or comma: the cut goes right after it
                word = buf[self._scan : p]
                newline = False
            else:
                word = buf[self._scan : m.start()]
                if not word:  # leading whitespace of the segment
                    self._scan = p
                    continue
                newline = "\n" in m.group()
            terminal = TERMINAL.search(word) is not None
            # a line that introduces what follows ("do this:") ends at its newline
            intro = newline and not terminal and word[-1] in ":："
            if p == n and not cjk and not (newline and (terminal or intro)):
                return out  # the whitespace run may go on, or it trails the text
            verdict = NO
            if terminal or newline:
                if cjk:
                    verdict = CUT
                else:
                    nxt = "\n" if newline else buf[p]
                    if terminal:
                        verdict = judge_end(word, nxt, self._lang)
                    else:
                        verdict = CUT if intro else ASK
                if verdict == ASK and self._pysbd is None:
                    verdict = NO  # no pysbd for the language: never cut where it is unclear
            if p == n and not cjk and not (newline and verdict == CUT):
                return out  # wait for the character after the whitespace
            words = self._words + (0 if cjk else 1)
            clause = CLAUSE.search(word) is not None
            fragment = verdict != CUT and self._fragment_due(clause, p, words)
            q = 0
            if cjk:
                q = p  # CJK has no words to look ahead to: decide now
            elif verdict == ASK or fragment:
                q = self._lookahead(p, final)
                if q < 0:
                    return out  # wait for the word after the candidate
            self._guard.track(word, self._base + self._scan)
            self._scan = p
            self._words = words
            reason = self._judge(word, p, q, verdict, terminal, clause, fragment)
            if reason is not None:
                out.append(self._cut(p, reason))

    def _lookahead(self, p: int, final: bool) -> int:
        """The end of the word after ``p``, or -1 while it is incomplete."""
        buf = self._buf
        n = len(buf)
        if p >= n:
            return n if final else -1
        la = _WS.search(buf, p, p + _LOOKAHEAD)
        if la is not None:
            return la.start()
        if final or n >= p + _LOOKAHEAD:
            return min(n, p + _LOOKAHEAD)
        return -1

    def _fragment_due(self, clause: bool, p: int, words: int) -> bool:
        """Whether the first segment may end early at ``p``, after its ``words``-th word."""
        opts = self._opts
        if not ((self._first or self.hurry) and opts.first_fragment):
            return False
        if not clause and (words < opts.first_fragment_max_words or not self._first):
            return False  # catching up cuts only at a clause: a word cap hurts prosody
        return _weight(self._buf, p) >= opts.first_fragment_min_chars

    def _judge(  # noqa: PLR0917 (one call site; the facts _advance established)
        self, word: str, p: int, q: int, verdict: int, terminal: bool, clause: bool, fragment: bool
    ) -> SegmentReason | None:
        """Decide the candidate cut at ``p`` after ``word``; record fallbacks.

        ``q`` is the end of the lookahead word (0 when it was not needed); ``fragment`` says
        whether the first segment may end here early.
        """
        opts = self._opts
        buf = self._buf
        if self._guard.tag:
            self._best[_T_IN_TAG] = p
            return None
        protected = self._guard.covers(self._base + p)
        if verdict == ASK:  # inside brackets or quotes no cut is made: spare pysbd
            verdict = NO if protected else CUT if self._pysbd_boundary(p, q) else NO
        if verdict == CUT:
            if not protected:
                self._sent = p
                if p >= opts.min_chars or self._first:
                    return "sentence"
            self._best[_T_SENTENCE] = p
        elif terminal:
            # an abbreviation, initial or ellipsis inside a sentence: a poor place to cut
            self._best[_T_ANY] = p
            return None
        nxt = buf[p] if p < len(buf) else ""
        digits = word.rstrip(",.")[-1:].isdigit() and nxt.isdigit()
        if not protected and q and not digits and fragment:
            after = buf[p:q]
            if not (TERMINAL.search(after) or (after[:1].isupper() and "." in after)):
                # never orphans a sentence's last word
                return "first_fragment" if self._first else "catch_up"
        if not protected:
            if clause:
                self._best[_T_CLAUSE] = p
            if not digits:
                self._best[_T_WORD] = p
        self._best[_T_ANY] = p
        return None

    def _pysbd_boundary(self, p: int, q: int) -> bool:
        """Whether pysbd starts a sentence at ``p`` in "sentence so far + next word"."""
        buf = self._buf
        start = self._sent
        if p - start > _WINDOW:
            m = _WS.search(buf, p - _WINDOW, p)
            start = m.end() if m is not None and m.end() < p else p - _WINDOW
        rel = p - start
        spans = self._pysbd.segment(buf[start:q])
        return any(span.end == rel for span in spans)

    # --- cutting -------------------------------------------------------------------------

    def _cut(self, c: int, reason: SegmentReason) -> Segment:
        seg = Segment(self._buf[:c], self._index, reason)
        self._index += 1
        self._buf = self._buf[c:]
        self._base += c
        self._scan = max(0, self._scan - c)
        self._seen = max(0, self._seen - c)
        self._sent = max(0, self._sent - c)
        self._best = [b - c if b > c else 0 for b in self._best]
        self._first = False
        self._words = 0
        return seg

    def _force_cut(self, m: re.Match[str] | None) -> Segment:
        """Cut an over-long pending segment at the best place within ``max_chars``.

        ``m`` is the next whitespace run after the scanned text (it ends past the limit).
        """
        buf, limit = self._buf, self._opts.max_chars
        floor = min(self._opts.min_chars, limit // 2)
        run = 0  # the latest word boundary, in the unscanned part
        run_in_tag = self._guard.tag
        if m is not None and 0 < m.start() <= limit:
            run = min(m.end(), limit)
            run_in_tag = tag_after(buf[self._scan : m.start()], self._guard.tag)
        best = self._best
        candidates = (
            *(best[t] for t in (_T_SENTENCE, _T_CLAUSE, _T_WORD) if best[t] > floor),
            0 if run_in_tag else run,
            best[_T_ANY],
            buf.rfind(">", self._scan, limit) + 1,  # right after a tag: 'x">word</y>'
            run,  # a space inside an overlong or unclosed tag beats cutting a word
            best[_T_IN_TAG],
        )
        c = next((c for c in candidates if c > 0), 0)
        if not c:  # no boundary at all: cut inside the word, but not inside a grapheme
            c = limit
            while c > max(1, limit - MAX_GRAPHEME) and inside_grapheme(buf, c):
                c -= 1
            if inside_grapheme(buf, c):
                c = limit  # no real grapheme is this long (100,000 accents on one letter)
        if c > self._scan:  # part of an unscanned word goes out: keep protection in step
            self._guard.track(buf[self._scan : c], self._base + self._scan)
            self._scan = c
        return self._cut(c, "max_length")


def _weight(buf: str, p: int) -> int:
    """The length of ``buf[:p]`` for the first-fragment minimum (CJK characters count 3)."""
    return p + 2 * len(_WIDE.findall(buf, 0, p))
