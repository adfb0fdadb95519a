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

import html
import re
import string
from dataclasses import dataclass
from typing import Final, Literal, get_args

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.text._emoji import EMOJI_CLASS, GLUE, ZWJ, is_emoji
from polly_pipeline.text._writer import SpeechWriter

__all__ = ["CleanOptions", "CodeBlockPolicy", "MarkdownCleaner", "clean_markdown"]

CodeBlockPolicy = Literal["skip", "announce", "read"]

_State = Literal["line", "inline", "fence_line", "fence_body", "skip_line"]
_Kind = Literal["para", "quote", "item", "heading", "table"]

#: Longest stretch held back to decide one construct (a tag, a link label, a fence line).
_HOLD: Final = 300
#: Runs of markers (``*``, ``_``, ``~``, backticks) are taken in pieces of at most this size.
_RUN_CAP: Final = 32

_INDENT: Final = re.compile(r"[^\S\n]*")
_SPACES: Final = re.compile(r"[^\S\n]+")
_HR: Final = re.compile(r"([-*_])(?:[^\S\n]*\1)*[^\S\n]*")
_SETEXT: Final = re.compile(r"=+[^\S\n]*")
_TABLE_RULE: Final = re.compile(r"[|:\-\s]*")
_PLAIN: Final = re.compile(rf"[^\s*_~`\[\]!<\\|#&{EMOJI_CLASS}]+")
_ENTITY: Final = re.compile(r"&#?[A-Za-z0-9]{0,32}")
_ENTITY_SHAPE: Final = re.compile(
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
)
_CODE_TEXT: Final = re.compile(rf"[^\s`{EMOJI_CLASS}]+")
_FENCE_TEXT: Final = re.compile(rf"[^\s{EMOJI_CLASS}]+|[^\S\n]+|[{EMOJI_CLASS}]")
_URL_START: Final = re.compile(r"(?<![A-Za-z0-9])(?:https?://|www\.)", re.IGNORECASE)
_URL_TEXT: Final = re.compile(rf"[^\s<>\"`*\[\]|{EMOJI_CLASS}]+")
_URL_PREFIXES: Final = ("http://", "https://", "www.")
_CLOSING_HASHES: Final = re.compile(r"#{1,32}[^\S\n]{0,32}")
_SKIP_URL: Final = re.compile(r"[^()\n]+")
_SKIP_REF: Final = re.compile(r"[^\]\n]+")
_TAG_END: Final = re.compile(r"[<>\n]")
_TAG: Final = re.compile(r"<(?:[!?][^<>\n]*|/?([A-Za-z][A-Za-z0-9:_.-]*)(?:[^\S\n][^<>\n]*)?/?)>")
_AUTOLINK: Final = re.compile(
    r"<((?:https?://|mailto:|www\.)[^\s<>]*|[^\s<>@]+@[^\s<>@]+)>", re.IGNORECASE
)
#: Tags that separate words (block-level or line breaks); other tags vanish without a trace.
_BREAK_TAGS: Final = frozenset(
    {"br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "hr", "blockquote"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "section"}
)
_ASCII_PUNCT: Final = frozenset(string.punctuation)


@dataclass(frozen=True)
class CleanOptions:
    """How markdown becomes speakable text.

    Attributes:
        code_blocks: fenced code blocks are dropped (``skip``), replaced by
            ``code_announcement`` (``announce``) or spoken line by line (``read``).
        code_announcement: what ``announce`` says instead of a code block.
        drop_emoji: remove emoji (a dropped emoji separates words like a space).
        speak_link_text: speak a link's text; when False links vanish entirely.
        ssml_escape: escape ``&``, ``<`` and ``>`` for embedding in an SSML document.
        table_cell_separator: written between the non-empty cells of a table row.
    """

    code_blocks: CodeBlockPolicy = "announce"
    code_announcement: str = "Here is a code sample."
    drop_emoji: bool = True
    speak_link_text: bool = True
    ssml_escape: bool = False
    table_cell_separator: str = ", "

    def __post_init__(self) -> None:
        if self.code_blocks not in get_args(CodeBlockPolicy):
            choices = ", ".join(get_args(CodeBlockPolicy))
            raise ConfigurationError(
                f"code_blocks must be one of {choices}, not {self.code_blocks!r}"
            )
        for name in ("code_announcement", "table_cell_separator"):
            if not isinstance(getattr(self, name), str):
                raise ConfigurationError(f"{name} must be a string")


class MarkdownCleaner:
    """Streaming markdown-to-speech cleaner; one instance per conversation, reset per turn."""

    def __init__(self, options: CleanOptions = CleanOptions()) -> None:
        self._opts = options
        self._w = SpeechWriter(
            ssml_escape=options.ssml_escape, cell_separator=options.table_cell_separator
        )
        self.reset()

    def reset(self) -> None:
        """Start a new turn: drop everything held back and all parser state."""
        self._w.reset()
        self._buf = ""
        self._i = 0
        self._final = False
        self._state: _State = "line"
        # block level
        self._open: _Kind | None = None  # the previous line, while its break is undecided
        self._kind: _Kind = "para"
        self._quoted = False
        self._fence: tuple[str, int] | None = None
        self._fence_text = False
        # inline level (reset at each line end)
        self._prev = ""
        self._code = 0
        self._url = False
        self._skip = 0
        self._skip_ref = False
        self._brackets: list[bool] = []
        self._emoji = False
        self._line_mark = 0
        self._first_strong = False
        self._strong_mark = -1

    def feed(self, chunk: str) -> str:
        """Add a chunk of the answer; return the speakable text that is final now."""
        if not chunk:
            return ""
        self._buf = self._buf[self._i :] + chunk if self._i < len(self._buf) else chunk
        self._i = 0
        self._run()
        return self._w.take()

    def flush(self) -> str:
        """End of the answer: return everything left, then start a new turn."""
        self._final = True
        self._run()
        if self._state == "inline":
            self._end_line()
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
                if done and self._state == "inline":
                    self._prev = self._buf[self._i - 1]
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
        """Classify the line at the cursor by (at most) its first ``_HOLD`` characters."""
        s = self._buf
        j = _INDENT.match(s, self._i).end()  # type: ignore[union-attr]
        self._i = j  # indentation never matters: consume it as it arrives
        if j == len(s):
            return True
        end, complete = self._line_view(j)
        if j == end:  # a blank line
            self._w.stop()
            self._open = None
            self._drop_line(end)
            return True
        c = s[j]
        if c == ">":
            self._quoted = True
            self._i = j + 1
            return True
        if c in "`~":
            k = _run_end(s, j, end)
            if k == end and not complete:
                return False
            if k - j >= 3 and not (c == "`" and "`" in s[k:end]):
                if not complete:
                    return False
                self._open_fence(c, k - j)
                self._drop_line(end)  # the info string is not spoken
                return True
        elif c == "#":
            k = _run_end(s, j, end)
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
                    self._w.stop()
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

        A view ends at the newline, at the end of the text, or after ``_HOLD`` characters.
        """
        s = self._buf
        nl = s.find("\n", j, j + _HOLD)
        if nl >= 0:
            return nl, True
        end = min(len(s), j + _HOLD)
        return end, self._final or end == j + _HOLD

    def _drop_line(self, at: int) -> None:
        """Drop the rest of the current line from ``at``, including its newline."""
        self._i = at
        self._state = "skip_line"

    def _begin_line(self, kind: _Kind, start: int) -> None:
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
        self._prev = ""
        self._line_mark = self._w.emitted
        self._first_strong = False
        self._strong_mark = -1

    def _end_line(self) -> None:
        while self._brackets:
            if self._brackets.pop():
                self._w.undivert(keep=True)
        self._code = 0
        self._url = False
        self._skip = 0
        self._skip_ref = False
        self._emoji = False
        kind = self._kind
        strong_line = (
            self._first_strong
            and self._strong_mark == self._w.emitted
            and self._w.emitted > self._line_mark
        )
        if kind in ("heading", "table") or (kind == "para" and strong_line):
            self._w.stop()
            self._open = None
        else:
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

    def _inline(self) -> bool:
        """Consume one inline token at the cursor; False when more input must decide it."""
        s, i = self._buf, self._i
        c = s[i]
        was_emoji, self._emoji = self._emoji, False
        if c == "\n":
            self._i = i + 1
            self._end_line()
            return True
        if self._skip:
            return self._skip_link_target(s, i, c)
        if self._skip_ref:
            if c == "]":
                self._skip_ref = False
                self._i = i + 1
            else:
                self._i = _SKIP_REF.match(s, i).end()  # type: ignore[union-attr]
            return True
        if c in GLUE or is_emoji(c):
            return self._emoji_char(c, was_emoji)
        if self._code:
            return self._code_span(s, i, c)
        if self._url:
            m = _URL_TEXT.match(s, i)
            if m:
                self._w.emit(m.group())
                self._i = m.end()
                return True
            self._url = False
        if c.isspace():
            self._w.space()
            self._i = _SPACES.match(s, i).end()  # type: ignore[union-attr]
            return True
        if c in "*_~":
            return self._emphasis(s, i, c)
        if c == "`":
            k = _run_end(s, i, i + _RUN_CAP)
            if k == len(s) and not self._final:
                return False
            self._code = k - i
            self._i = k
            return True
        if c in "[]!":
            return self._bracket(s, i, c)
        if c == "<":
            return self._angle(s, i)
        if c == "&":
            return self._entity(s, i)
        if c == "\\":
            if i + 1 == len(s) and not self._final:
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
            if m.end() == len(s) and not self._final:
                return False
            if m.end() == len(s) or s[m.end()] == "\n":
                self._i = m.end()  # a closing sequence: "## Title ##"
                return True
        if c in "hHwW" and not self._prev.isalnum():
            head = s[i : i + 8].lower()
            if head.startswith(_URL_PREFIXES):
                self._url = True
                m = _URL_TEXT.match(s, i)
                assert m is not None
                self._w.emit(m.group())
                self._i = m.end()
                return True
            if (
                i + len(head) == len(s)
                and not self._final
                and any(p.startswith(head) for p in _URL_PREFIXES)
            ):
                return False
        return self._plain(s, i, c)

    def _plain(self, s: str, i: int, c: str) -> bool:
        m = _PLAIN.match(s, i)
        if m is None:  # a special character that is literal here ('#', '|')
            self._w.emit(c)
            self._i = i + 1
            return True
        run = m.group()
        url = _URL_START.search(run, 1)
        if url is not None:
            run = run[: url.start()]
        elif m.end() == len(s) and not self._final:
            # hold a possible URL prefix at the end ("(htt" may become "(https://")
            for k in range(max(0, len(run) - 8), len(run)):
                before = run[k - 1] if k else self._prev
                tail = run[k:].lower()
                if not before.isalnum() and any(p.startswith(tail) for p in _URL_PREFIXES):
                    if not k:
                        return False
                    run = run[:k]
                    break
        self._w.emit(run)
        self._i = i + len(run)
        return True

    def _emoji_char(self, c: str, was_emoji: bool) -> bool:
        self._i += 1
        if not self._opts.drop_emoji or (c == ZWJ and not was_emoji):
            self._w.emit(c)
        elif c in GLUE:
            self._emoji = was_emoji
        else:
            self._w.space()
            self._emoji = True
        return True

    def _emphasis(self, s: str, i: int, c: str) -> bool:
        k = _run_end(s, i, i + _RUN_CAP)
        if k == len(s) and not self._final:
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
            k = _run_end(s, i, i + _RUN_CAP)
            if k == len(s) and not self._final:
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
            if i + 1 == len(s) and not self._final:
                return False
            if s[i + 1 : i + 2] == "^":  # a footnote reference "[^1]" is not spoken
                self._skip_ref = True
                self._i = i + 2
                return True
            diverted = not self._opts.speak_link_text
            self._brackets.append(diverted)
            if diverted:
                self._w.divert()
            self._i = i + 1
            return True
        if i + 1 == len(s) and not self._final:
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

    def _entity(self, s: str, i: int) -> bool:
        """A '&': an HTML entity is spoken as its character ("&amp;" -> "&")."""
        m = _ENTITY.match(s, i)
        assert m is not None
        k = m.end()
        if k == len(s) and not self._final and k - i < 34:
            return False
        if k < len(s) and _ENTITY_SHAPE.fullmatch(s, i, k + 1):
            text = html.unescape(s[i : k + 1])
            if text != s[i : k + 1]:
                self._i = k + 1
                dropped = self._opts.drop_emoji and all(ch in GLUE or is_emoji(ch) for ch in text)
                if text.isspace() or dropped:
                    self._w.space()
                else:
                    self._w.emit(text)
                return True
        self._w.emit("&")
        self._i = i + 1
        return True

    def _angle(self, s: str, i: int) -> bool:
        """A '<': a tag or comment to drop, an autolink to keep, or a literal '<'."""
        final = self._final
        limit = i + _HOLD
        if i + 1 == len(s) and not final:
            return False
        nxt = s[i + 1 : i + 2]
        if nxt == "!" and s.startswith("<!--"[: len(s) - i], i) and len(s) - i < 4:
            if not final:
                return False
        elif s.startswith("<!--", i):
            close = s.find("-->", i + 4, limit)
            nl = s.find("\n", i, limit)
            if close >= 0 and (nl < 0 or close < nl):
                self._i = close + 3
                return True
            if nl < 0 and len(s) < limit and not final:
                return False
        elif nxt.isalpha() or nxt in ("/", "!", "?"):
            m = _TAG_END.search(s, i + 1, limit)
            if m is None and len(s) < limit and not final:
                return False
            if m is not None and m.group() == ">":
                auto = _AUTOLINK.fullmatch(s, i, m.end())
                if auto is not None:
                    self._w.emit(auto.group(1))
                    self._i = m.end()
                    return True
                tag = _TAG.fullmatch(s, i, m.end())
                if tag is not None:
                    name = (tag.group(1) or "").lower()
                    if name in _BREAK_TAGS:
                        self._w.space()
                    self._i = m.end()
                    return True
        self._w.emit("<")
        self._i = i + 1
        return True


def clean_markdown(text: str, options: CleanOptions = CleanOptions()) -> str:
    """Clean a whole markdown text at once (the same as ``feed(text) + flush()``)."""
    cleaner = MarkdownCleaner(options)
    return cleaner.feed(text) + cleaner.flush()


def _run_end(s: str, i: int, end: int) -> int:
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
