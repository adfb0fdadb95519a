"""A stage that replaces words with how they should be said, as the text streams in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping

from aiostream.core import pipable_operator, streamcontext
from polly_pipeline.errors import ConfigurationError

__all__ = ["pronounce"]

_WORD = re.compile(r"\w+")
_TRAILING_WORD = re.compile(r"\w*$")


@pipable_operator
async def pronounce(
    source: AsyncIterable[str], lexicon: Mapping[str, str], *, ignore_case: bool = False
) -> AsyncIterator[str]:
    """Replace whole words found in ``lexicon`` by their spoken form.

    ``stream.iterate(tokens) | pronounce.pipe({"nginx": "engine x"})``. A model streams words
    in pieces ("ngi", "nx"), so the word at the end of each piece is held back until the next
    piece shows where it ends; nothing else is delayed and all whitespace is kept.

    Raises:
        ConfigurationError: a lexicon key that is not a single word (letters, digits, ``_``).
    """
    bad = [word for word in lexicon if not _WORD.fullmatch(word)]
    if bad:
        raise ConfigurationError(
            f"pronounce replaces single words; these keys are not: {', '.join(map(repr, bad))}"
        )
    if not lexicon:
        async with streamcontext(source) as streamer:
            async for text in streamer:
                yield text
        return
    flags = re.IGNORECASE if ignore_case else 0
    words = sorted(lexicon, key=len, reverse=True)
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", flags)
    spoken = {word.casefold() if ignore_case else word: said for word, said in lexicon.items()}

    def say(match: re.Match[str]) -> str:
        word = match.group()
        return spoken[word.casefold() if ignore_case else word]

    held = ""
    async with streamcontext(source) as streamer:
        async for text in streamer:
            held += text
            cut = _TRAILING_WORD.search(held)
            end = cut.start() if cut is not None else len(held)
            ready, held = held[:end], held[end:]
            if ready:
                yield pattern.sub(say, ready)
    if held:
        yield pattern.sub(say, held)
