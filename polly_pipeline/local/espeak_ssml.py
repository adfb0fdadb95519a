"""Local service layer: Polly SSML rewritten into the SSML espeak-ng understands.

Unknown elements are dropped (their text kept), prosody and emphasis are mapped to espeak-ng's
values, breaks are clamped to Polly's 10 s, and character data is escaped once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape, unescape

__all__ = ["SSML_TAG", "to_espeak_ssml"]

SSML_TAG = re.compile(
    r"<(/?)([A-Za-z_][\w:.-]*)"  # closing slash, name
    r"((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)"  # attributes
    r"\s*(/?)>"  # empty-element slash
)
_ATTRIBUTE = re.compile(r"([^\s=]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_SKIPPED = re.compile(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[[^\]]*\])?\s*>", re.S | re.I)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)
_ENTITY = re.compile(r"&(?!(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);)")

_PROSODY = {
    "rate": re.compile(r"x-slow|slow|medium|fast|x-fast|default|\d+(?:\.\d+)?%"),
    "pitch": re.compile(r"x-low|low|medium|high|x-high|default|[+-]?\d+(?:\.\d+)?%"),
    "volume": re.compile(r"silent|x-soft|soft|medium|loud|x-loud|default|[+-]?\d+(?:\.\d+)?%"),
}
_DECIBELS = re.compile(r"([+-]?\d+(?:\.\d+)?)dB")
_BREAK_TIME = re.compile(r"(\d+(?:\.\d+)?)(ms|s)")
_BREAK_STRENGTHS = {"none", "x-weak", "weak", "medium", "strong", "x-strong"}
_EMPHASIS_LEVELS = {"strong", "moderate", "reduced", "none"}
# Polly's say-as values that espeak-ng reads differently from plain text
_SAY_AS = {"characters": "characters", "spell-out": "characters", "digits": "characters"}
_MAX_BREAK_MS = 10_000  # Polly's limit


def to_espeak_ssml(ssml: str) -> str:
    """Rewrite Polly SSML into the subset espeak-ng speaks, so no markup is read out.

    Kept: ``speak``, ``p``, ``s``, ``break``, ``prosody`` (rate, pitch, volume; decibels become
    percentages), ``emphasis`` and ``say-as`` for spelling. ``sub`` is replaced by its alias.
    Every other element (``amazon:*``, ``lang``, ``mark``, ``phoneme``, ``w``, ...) is dropped
    with its text kept; comments, processing instructions and doctypes go entirely.
    """
    ssml = _SKIPPED.sub("", ssml)
    ssml = _CDATA.sub(lambda m: escape(m.group(1), quote=False), ssml)
    out: list[str] = []
    open_elements: list[tuple[str, str]] = []  # (name, the end tag written for it)
    position = 0
    in_sub = False  # skipping the content of <sub alias="...">
    for match in SSML_TAG.finditer(ssml):
        if not in_sub:
            out.append(_text(ssml[position : match.start()]))
        position = match.end()
        closing, name, attributes, empty = match.groups()
        name = name.lower()
        if in_sub:
            in_sub = not (closing and name == "sub")
        elif closing:
            if any(open_name == name for open_name, _ in open_elements):
                while True:  # also closes what was left open inside it
                    open_name, end_tag = open_elements.pop()
                    out.append(end_tag)
                    if open_name == name:
                        break
        else:
            attrs = {k.lower(): unescape(v or w) for k, v, w in _ATTRIBUTE.findall(attributes)}
            if name == "sub" and "alias" in attrs:
                out.append(escape(attrs["alias"], quote=False))
                in_sub = not empty
                continue
            start_tag, end_tag = _element(name, attrs, empty=bool(empty))
            out.append(start_tag)
            if not empty:
                open_elements.append((name, end_tag))
    if not in_sub:
        out.append(_text(ssml[position:]))
    out.extend(end_tag for _, end_tag in reversed(open_elements))
    body = "".join(out)
    if not body.lstrip().startswith("<speak>"):
        body = f"<speak>{body}</speak>"
    return body


def _text(text: str) -> str:
    """Character data with stray ``<`` and ``&`` escaped."""
    return _ENTITY.sub("&amp;", text.replace("<", "&lt;"))


def _element(name: str, attrs: Mapping[str, str], *, empty: bool) -> tuple[str, str]:
    """The start and end tag espeak-ng gets for a Polly element (empty strings: dropped)."""
    if name in ("speak", "p", "s"):
        return ("", "") if empty else (f"<{name}>", f"</{name}>")
    if name == "break":
        return _break(attrs), ""
    if name in ("prosody", "emphasis", "say-as"):
        kept = _keep_attributes(name, attrs)
        if kept is None:  # nothing espeak-ng can use: speak the content plainly
            return "", ""
        start = f"<{name}" + "".join(f' {key}="{value}"' for key, value in kept.items())
        return (f"{start}/>", "") if empty else (f"{start}>", f"</{name}>")
    return "", ""


def _break(attrs: Mapping[str, str]) -> str:
    time = _BREAK_TIME.fullmatch(attrs.get("time", "").strip())
    if time:
        milliseconds = float(time.group(1)) * (1 if time.group(2) == "ms" else 1000)
        return f'<break time="{min(round(milliseconds), _MAX_BREAK_MS)}ms"/>'
    strength = attrs.get("strength", "medium").strip()
    return f'<break strength="{strength if strength in _BREAK_STRENGTHS else "medium"}"/>'


def _keep_attributes(name: str, attrs: Mapping[str, str]) -> dict[str, str] | None:
    if name == "emphasis":
        level = attrs.get("level", "moderate")
        return {"level": level if level in _EMPHASIS_LEVELS else "moderate"}
    if name == "say-as":
        interpret = _SAY_AS.get(attrs.get("interpret-as", ""))
        return {"interpret-as": interpret} if interpret else None
    kept: dict[str, str] = {}
    for key, pattern in _PROSODY.items():
        value = attrs.get(key, "").strip()
        decibels = _DECIBELS.fullmatch(value)
        if key == "volume" and decibels:
            value = f"{round(100 * 10 ** (float(decibels.group(1)) / 20))}%"
        if pattern.fullmatch(value):
            kept[key] = value
    return kept
