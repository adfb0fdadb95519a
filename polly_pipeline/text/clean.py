"""Text layer: a streaming markdown-to-speakable-text cleaner (sans-IO).

:class:`MarkdownCleaner` turns an LLM's markdown, fed in arbitrary chunks, into plain text
worth speaking. ``feed()`` returns the text that is final now and holds back only what it
needs to decide (the start of a line until its block type is known, a run of ``*``/``_``
until the next character, an unfinished tag, link bracket or URL prefix); for plain prose
that is at most the current partial word. ``feed()`` + ``flush()`` over any chunking equals
:func:`clean_markdown` on the whole text.

What becomes of markdown:

- emphasis markers (``*``, ``_``, ``**``, ``__``, ``~~``) and inline-code backticks are
  dropped; a lone ``*`` between spaces (``5 * 3``) and intraword ``_`` (``snake_case``) stay;
- headings, list items and table rows become sentences (a period is added when they end
  without punctuation); a paragraph line that is entirely bold is treated as a heading;
- ``[text](url)`` speaks ``text``; ``![alt](src)`` speaks ``alt``; ``[x]: url`` lines and
  footnote references ``[^1]`` vanish; bare URLs are kept verbatim (``_`` and ``~`` inside
  them survive); HTML entities become their character (``&amp;`` -> ``&``);
- blockquote markers, horizontal rules, table separator rows and HTML/XML tags are dropped;
- fenced code blocks follow :attr:`CleanOptions.code_blocks`; indented code blocks are not
  recognised (indentation is too common in list items);
- emoji are dropped (see ``_emoji``); a dropped emoji separates words like a space;
- whitespace collapses to single spaces and newlines become spaces or sentence breaks, so
  words are never glued together and the output contains no newlines.

Markup safety: anything that looks like an HTML/SSML/XML tag (``<speak>``, ``<br/>``,
``<!-- -->``) is removed in every mode: in plain-text mode Polly does not interpret markup
but would read a tag's characters aloud, and model output must never become markup. A ``<``
that does not start a tag (``a < b``) is kept, and so is what the model wrote deliberately as
text: inline code (```<br>```) and escaped entities (``&lt;br&gt;``). With
``ssml_escape=True`` the output is also escaped (``&``, ``<``, ``>``), so it can be embedded
in a ``<speak>`` document sent with ``TextType="ssml"`` and still never be read as SSML.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from polly_pipeline.text._emoji import EMOJI_CLASS, GLUE, is_emoji
from polly_pipeline.text._inline import HOLD, InlineLexer, LineKind, run_end
from polly_pipeline.text._writer import SpeechWriter
from polly_pipeline.text.clean_options import CleanOptions, CodeBlockPolicy

__all__ = ["CleanOptions", "CodeBlockPolicy", "MarkdownCleaner", "clean_markdown"]

_State = Literal["line", "inline", "fence_line", "fence_body", "skip_line"]

#: C0/C1 control characters other than tab, newline and carriage return (NUL, BEL, ESC, DEL,
#: ...): never speakable, and Polly may reject them; each separates words like a space.
_CONTROLS: Final = dict.fromkeys((*range(9), 11, *range(14, 32), *range(127, 160)), " ")
_INDENT: Final = re.compile(r"[^\S\n]*")
_HR: Final = re.compile(r"([-*_])(?:[^\S\n]*\1)*[^\S\n]*")
_SETEXT: Final = re.compile(r"=+[^\S\n]*")
_TABLE_RULE: Final = re.compile(r"[|:\-\s]*")
_FENCE_TEXT: Final = re.compile(rf"[^\s{EMOJI_CLASS}]+|[^\S\n]+|[{EMOJI_CLASS}]")


class MarkdownCleaner:
    """Streaming markdown-to-speech cleaner; one instance per conversation, reset per turn."""

    def __init__(self, options: CleanOptions = CleanOptions()) -> None:  # noqa: B008 (a frozen dataclass)
        self._opts = options
        self._w = SpeechWriter(
            ssml_escape=options.ssml_escape, cell_separator=options.table_cell_separator
        )
        self._lexer = InlineLexer(
            self._w, drop_emoji=options.drop_emoji, speak_links=options.speak_link_text
        )
        self.reset()

    def reset(self) -> None:
        """Start a new turn: drop everything held back and all parser state."""
        self._w.reset()
        self._buf = ""
        self._i = 0
        self._final = False
        self._state: _State = "line"
        self._open: LineKind | None = None  # the previous line, while its break is undecided
        self._kind: LineKind = "para"
        self._quoted = False
        self._fence: tuple[str, int] | None = None
        self._fence_text = False
        self._lexer.final = False
        self._lexer.start_line("para")

    def feed(self, chunk: str) -> str:
        """Add a chunk of the answer; return the speakable text that is final now."""
        if not chunk:
            return ""
        chunk = chunk.translate(_CONTROLS)
        self._buf = self._buf[self._i :] + chunk if self._i < len(self._buf) else chunk
        self._i = 0
        self._run()
        return self._w.take()

    def flush(self) -> str:
        """End of the answer: return everything left, then start a new turn."""
        self._final = self._lexer.final = True
        self._run()
        if self._state == "inline":
            self._end_line(settle=False)
        if self._open == "item":
            self._w.stop()
        out = self._w.finish()
        self.reset()
        return out

    # --- driver ----------------------------------------------------------------------

    def _run(self) -> None:
        while self._i < len(self._buf):
            state = self._state
            if state == "inline":
                done = self._inline()
            elif state == "line":
                done = self._line()
            elif state == "fence_line":
                done = self._fence_line()
            elif state == "fence_body":
                done = self._fence_body()
            else:
                done = self._skip_line()
            if not done:
                if not self._final or self._i >= len(self._buf):
                    return
                self._w.emit(self._buf[self._i])  # unreachable by design; never loop forever
                self._i += 1

    # --- block level -----------------------------------------------------------------

    def _line(self) -> bool:
        """Classify the line at the cursor by (at most) its first ``HOLD`` characters."""
        s = self._buf
        j = _INDENT.match(s, self._i).end()  # type: ignore[union-attr]
        self._i = j  # indentation never matters: consume it as it arrives
        if j == len(s):
            return True
        end, complete = self._line_view(j)
        if j == end:  # a blank line
            self._w.end_block()
            self._open = None
            self._drop_line(end)
            return True
        c = s[j]
        if c == ">":
            self._quoted = True
            self._i = j + 1
            return True
        if c in "`~":
            k = run_end(s, j, end)
            if k == end and not complete:
                return False
            if k - j >= 3 and not (c == "`" and "`" in s[k:end]):
                if not complete:
                    return False
                self._open_fence(c, k - j)
                self._drop_line(end)  # the info string is not spoken
                return True
        elif c == "#":
            k = run_end(s, j, end)
            if k == end and not complete:
                return False
            if k - j <= 6 and (k == end or s[k].isspace()):
                self._begin_line("heading", k)
                return True
        elif c in "-*_=":
            rest = s[j:end]
            if (_SETEXT if c == "=" else _HR).fullmatch(rest):
                if not complete:
                    return False
                if rest.count(c) >= 3:
                    self._w.end_block()
                    self._open = None
                    self._drop_line(end)
                    return True
            if c in "-*":
                if j + 1 == end:
                    self._begin_line("item", end)
                    return True
                if s[j + 1].isspace():
                    self._begin_line("item", j + 2)
                    return True
        elif c == "+":
            if j + 1 == end and not complete:
                return False
            if j + 1 < end and s[j + 1].isspace():
                self._begin_line("item", j + 2)
                return True
        elif c.isdigit():
            k = j
            while k < end and k - j < 10 and s[k].isdigit():
                k += 1
            if k == end and not complete:
                return False
            if k < end and s[k] in ".)":
                if k + 1 == end and not complete:
                    return False
                if k + 1 == end or s[k + 1].isspace():
                    self._begin_line("item", min(k + 2, end))
                    return True
        elif c == "|":
            rest = s[j:end]
            if _TABLE_RULE.fullmatch(rest):
                if not complete:
                    return False
                if "-" in rest:  # the separator row under a table header
                    self._drop_line(end)
                    return True
            self._begin_line("table", j)
            return True
        elif c == "[":
            close = s.find("]", j, end)
            if close < 0:
                if not complete:
                    return False
            elif close + 1 == end and not complete:
                return False
            elif close + 1 < end and s[close + 1] == ":":  # "[label]: url" is not spoken
                self._drop_line(close + 2)
                return True
        self._begin_line("para", j)
        return True

    def _line_view(self, j: int) -> tuple[int, bool]:
        """How far the line at ``j`` is looked at, and whether that view is complete.

        A view ends at the newline, at the end of the text, or after ``HOLD`` characters.
        """
        s = self._buf
        nl = s.find("\n", j, j + HOLD)
        if nl >= 0:
            return nl, True
        end = min(len(s), j + HOLD)
        return end, self._final or end == j + HOLD

    def _drop_line(self, at: int) -> None:
        """Drop the rest of the current line from ``at``, including its newline."""
        self._i = at
        self._state = "skip_line"

    def _begin_line(self, kind: LineKind, start: int) -> None:
        if kind == "para" and self._quoted:
            kind = "quote"
        if self._open is not None:
            continues = kind in ("para", "quote") and (
                kind == self._open or (kind == "para" and self._open == "item")
            )
            if continues:
                self._w.space()
            else:
                self._w.stop()
            self._open = None
        self._kind = kind
        self._state = "inline"
        self._i = start
        self._lexer.start_line(kind)

    def _inline(self) -> bool:
        """Consume one inline token, or the newline that ends the line."""
        if self._buf[self._i] == "\n":
            self._i += 1
            self._end_line()
            return True
        i = self._lexer.step(self._buf, self._i)
        if i < 0:
            return False
        self._i = i
        return True

    def _end_line(self, *, settle: bool = True) -> None:
        """End the current line; ``settle=False`` at the end of the turn (nothing follows)."""
        strong_line = self._lexer.end_line()
        kind = self._kind
        if kind in ("heading", "table", "item") or (kind == "para" and strong_line):
            if settle:
                self._w.end_block()  # the line ends its block: speak it now
            else:
                self._w.stop()
            self._open = None
        else:
            if settle:
                self._w.end_block(period=False)  # a line that ends a sentence ends it now
            self._open = kind
        self._quoted = False
        self._state = "line"

    def _skip_line(self) -> bool:
        s, i = self._buf, self._i
        nl = s.find("\n", i)
        if nl < 0:
            self._i = len(s)
        else:
            self._i = nl + 1
            self._state = "fence_line" if self._fence is not None else "line"
            self._quoted = False
        return True

    # --- fenced code -----------------------------------------------------------------

    def _open_fence(self, char: str, length: int) -> None:
        self._fence = (char, length)
        self._fence_text = False
        self._state = "fence_line"
        self._quoted = False
        self._w.stop()
        self._open = None
        if self._opts.code_blocks == "announce" and self._opts.code_announcement.strip():
            self._w.emit_text(self._opts.code_announcement)
            self._w.stop()

    def _fence_line(self) -> bool:
        """At the start of a line inside a fence: is it the closing fence?"""
        assert self._fence is not None
        char, length = self._fence
        s = self._buf
        j = _INDENT.match(s, self._i).end()  # type: ignore[union-attr]
        self._i = j
        if j == len(s):
            return True
        end, complete = self._line_view(j)
        k = j
        while k < end and s[k] == char:
            k += 1
        if k == end and not complete:
            return False
        if k - j >= length and _INDENT.match(s, k, end).end() == end:  # type: ignore[union-attr]
            if not complete:
                return False
            self._fence = None
            self._w.stop()
            self._drop_line(end)
            return True
        self._state = "fence_body"
        self._fence_text = False
        return True

    def _fence_body(self) -> bool:
        s, i = self._buf, self._i
        nl = s.find("\n", i)
        end = nl if nl >= 0 else len(s)
        if self._opts.code_blocks == "read":
            for m in _FENCE_TEXT.finditer(s, i, end):
                text = m.group()
                if text[0].isspace():
                    self._w.space()
                elif len(text) == 1 and (is_emoji(text) or text in GLUE):
                    if self._opts.drop_emoji:
                        self._w.space()
                    else:
                        self._w.emit(text)
                else:
                    self._w.emit(text)
                    self._fence_text = True
        self._i = end
        if nl >= 0:
            self._i = nl + 1
            self._state = "fence_line"
            if self._fence_text:
                self._w.stop()
        return True

    # --- inline level ----------------------------------------------------------------


def clean_markdown(text: str, options: CleanOptions = CleanOptions()) -> str:  # noqa: B008 (a frozen dataclass)
    """Clean a whole markdown text at once (the same as ``feed(text) + flush()``)."""
    cleaner = MarkdownCleaner(options)
    return cleaner.feed(text) + cleaner.flush()
