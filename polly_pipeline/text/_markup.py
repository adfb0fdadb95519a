"""Text layer: HTML entities, tags and comments in the markdown cleaner (pure readers).

:func:`read_entity` speaks an entity as its character (``&amp;`` -> ``&``);
:func:`read_angle` drops a tag or comment (``<br/>``, ``<speak>``, ``<!-- -->``), speaks an
autolink's host name and keeps a ``<`` that starts neither (``a < b``). Both write through a
:class:`SpeechWriter` and return the position after what they consumed, or -1 when the
characters seen so far cannot decide yet (at most :data:`HOLD` characters are held).
"""

from __future__ import annotations

import html
import re
from typing import Final

from polly_pipeline.text._emoji import GLUE, is_emoji
from polly_pipeline.text._urls import speakable_link
from polly_pipeline.text._writer import SpeechWriter

__all__ = ["HOLD", "read_angle", "read_entity"]

#: Longest stretch held back to decide one construct (a tag, a link label, a fence line).
HOLD: Final = 300

_ENTITY: Final = re.compile(r"&#?[A-Za-z0-9]{0,32}")
_ENTITY_SHAPE: Final = re.compile(
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
)
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


def read_entity(s: str, i: int, w: SpeechWriter, *, final: bool, drop_emoji: bool) -> int:
    """A '&' at ``i``: an HTML entity is spoken as its character ("&amp;" -> "&")."""
    m = _ENTITY.match(s, i)
    assert m is not None
    k = m.end()
    if k == len(s) and not final and k - i < 34:
        return -1
    if k < len(s) and _ENTITY_SHAPE.fullmatch(s, i, k + 1):
        text = html.unescape(s[i : k + 1])
        if text != s[i : k + 1]:
            dropped = drop_emoji and all(ch in GLUE or is_emoji(ch) for ch in text)
            if text.isspace() or dropped:
                w.space()
            else:
                w.emit(text)
            return k + 1
    w.emit("&")
    return i + 1


def read_angle(s: str, i: int, w: SpeechWriter, *, final: bool) -> int:
    """A '<' at ``i``: a tag or comment to drop, an autolink to keep, or a literal '<'."""
    limit = i + HOLD
    if i + 1 == len(s) and not final:
        return -1
    nxt = s[i + 1 : i + 2]
    if nxt == "!" and s.startswith("<!--"[: len(s) - i], i) and len(s) - i < 4:
        if not final:
            return -1
    elif s.startswith("<!--", i):
        close = s.find("-->", i + 4, limit)
        nl = s.find("\n", i, limit)
        if close >= 0 and (nl < 0 or close < nl):
            return close + 3
        if nl < 0 and len(s) < limit and not final:
            return -1
    elif nxt.isalpha() or nxt in ("/", "!", "?"):
        m = _TAG_END.search(s, i + 1, limit)
        if m is None and len(s) < limit and not final:
            return -1
        if m is not None and m.group() == ">":
            auto = _AUTOLINK.fullmatch(s, i, m.end())
            if auto is not None:
                w.emit(speakable_link(auto.group(1)))
                return m.end()
            tag = _TAG.fullmatch(s, i, m.end())
            if tag is not None:
                name = (tag.group(1) or "").lower()
                if name in _BREAK_TAGS:
                    w.space()
                return m.end()
    w.emit("<")
    return i + 1
