"""The plain rule: sentence ends found by one regex on the raw token stream.

This is what the floor is computed from and what the naive baselines split with. It uses
nothing of this project's text layer (no cleaner, no segmenter, no abbreviation lists): a
sentence or heading line is complete when the concatenated raw tokens show

- ``.``, ``!`` or ``?`` (any run, optionally closed by a quote or bracket) followed by
  whitespace, or
- a newline, or
- ``。``, ``！`` or ``？`` (Japanese and Chinese sentence ends, which take no whitespace).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: The plain sentence-end rule (see the module docstring).
SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s|\n|[。！？]")
RULE = r"`[.!?]+[\"'”’)\]]*\s|\n|[。！？]`"


class PlainSplitter:
    """Cuts raw tokens into sentences the moment :data:`SENTENCE_END` matches.

    Each sentence keeps its end (punctuation and the whitespace or newline after it); pieces
    that are only whitespace (the blank line after a heading) are dropped.
    """

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, token: str) -> list[str]:
        """Add one raw token; return the sentences it completed."""
        self._buffer += token
        out = []
        while match := SENTENCE_END.search(self._buffer):
            piece, self._buffer = self._buffer[: match.end()], self._buffer[match.end() :]
            if piece.strip():
                out.append(piece)
        return out

    def flush(self) -> list[str]:
        """The text after the last sentence end (the answer is complete)."""
        rest, self._buffer = self._buffer, ""
        return [rest] if rest.strip() else []


def first_boundary_token(tokens: Sequence[str]) -> int:
    """Index of the first token at which the plain rule sees the first sentence complete."""
    splitter = PlainSplitter()
    for i, token in enumerate(tokens):
        if splitter.feed(token):
            return i
    return len(tokens) - 1  # no sentence end: the answer's last token
