"""Local service layer: SynthesizeSpeech speech marks (``OutputFormat=json``), offline voice.

Polly answers ``OutputFormat=json`` with one JSON object per line: ``time`` (milliseconds into
the audio), ``type``, ``start`` and ``end`` (byte offsets into the UTF-8 input) and ``value``.
The local service produces ``sentence`` and ``word`` marks for plain text, timed by espeak-ng's
own word and sentence events for the audio it renders for the same text.
"""

from __future__ import annotations

import json

from polly_pipeline.local.voice import get_offline_voice
from polly_pipeline.local.voices import VoiceInfo

__all__ = ["SUPPORTED_MARK_TYPES", "speech_marks"]

#: The speech mark types the local service produces.
SUPPORTED_MARK_TYPES = frozenset({"sentence", "word"})


def speech_marks(text: str, voice: VoiceInfo, types: frozenset[str]) -> bytes:
    """The speech marks of ``types`` for plain ``text``, as JSON lines (blocking)."""
    events = get_offline_voice().timed_events(text, voice=voice)
    sentence_starts = [start for kind, start, _, _ in events if kind == "sentence"]
    lines: list[bytes] = []
    for kind, start, length, ms in events:
        if kind not in types:
            continue
        if kind == "sentence":
            later = [s for s in sentence_starts if s > start]
            end = later[0] if later else len(text)
            while end > start and text[end - 1].isspace():
                end -= 1
        else:
            end = start + length
        begin = len(text[:start].encode())
        mark = {
            "time": ms,
            "type": kind,
            "start": begin,
            "end": begin + len(text[start:end].encode()),
            "value": text[start:end],
        }
        lines.append(json.dumps(mark, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    return b"".join(lines)
