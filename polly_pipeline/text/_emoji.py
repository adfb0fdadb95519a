"""Text layer: which characters are emoji and emoji glue (never read aloud).

An emoji is a pictographic character: everything from U+1F000 up to U+1FFFF (pictographs,
regional indicators for flags, skin-tone modifiers, enclosed supplements) and the ``So``
(other symbol) characters of the BMP symbol blocks U+2300-U+2BFF (technical symbols, shapes,
miscellaneous symbols, dingbats such as ✔ ❤ ☀). Arrows (U+2190-U+21FF), letterlike symbols
(™ ℃ №), ©, ® and ° are text and stay. The glue of emoji sequences (variation selectors, the
keycap mark, tag characters) is invisible and dropped; a zero-width joiner is dropped only
inside an emoji sequence, since some scripts need it between letters.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["EMOJI_CLASS", "GLUE", "ZWJ", "is_emoji"]

ZWJ: Final = "\u200d"

#: Invisible parts of emoji sequences: ZWJ, variation selectors, keycap, tag characters.
GLUE: Final = frozenset(
    [ZWJ, "\u20e3", *map(chr, range(0xFE00, 0xFE10)), *map(chr, range(0xE0020, 0xE0080))]
)

#: A regex character-class body covering every character :func:`is_emoji` or GLUE may accept.
EMOJI_CLASS: Final = (
    "\u200d\u20e3\ufe00-\ufe0f\u2139\u24c2\u2300-\u2bff\u3030\u303d\u3297\u3299"
    "\U0001f000-\U0001ffff\U000e0020-\U000e007f"
)

_EXTRA: Final = frozenset("\u2139\u24c2\u3030\u303d\u3297\u3299")


def is_emoji(ch: str) -> bool:
    """Whether the single character ``ch`` is a pictograph that should not be spoken."""
    cp = ord(ch)
    if 0x1F000 <= cp <= 0x1FFFF:
        return True
    if 0x2300 <= cp <= 0x2BFF:
        return unicodedata.category(ch) == "So"
    return ch in _EXTRA
