"""The pronounce stage on its own: whole words replaced, also when they arrive in pieces."""

from __future__ import annotations

import pytest
from aiostream import stream
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.pipeline import clean

from polly_pipeline_plugin_template import pronounce

LEXICON = {"nginx": "engine x", "SQL": "sequel"}


async def run(pieces: list[str], lexicon: dict[str, str], *, ignore_case: bool = False) -> str:
    said = pronounce.raw(stream.iterate(pieces), lexicon, ignore_case=ignore_case)
    return "".join([text async for text in said])


async def test_words_are_replaced_even_when_split_across_pieces() -> None:
    pieces = ["Put ng", "i", "nx in front of the S", "QL server."]
    assert await run(pieces, LEXICON) == "Put engine x in front of the sequel server."


async def test_only_whole_words_are_replaced() -> None:
    assert await run(["SQLite and nginxes, ", "but SQL."], LEXICON) == (
        "SQLite and nginxes, but sequel."
    )


async def test_the_word_at_the_end_is_not_lost() -> None:
    assert await run(["Use ", "ngi", "nx"], LEXICON) == "Use engine x"


async def test_case_is_ignored_when_asked() -> None:
    assert await run(["NGINX and sql"], LEXICON) == "NGINX and sql"
    assert await run(["NGINX and sql"], LEXICON, ignore_case=True) == "engine x and sequel"


async def test_text_passes_unchanged_with_an_empty_lexicon() -> None:
    assert await run(["a ", "b"], {}) == "a b"


async def test_keys_must_be_single_words() -> None:
    with pytest.raises(ConfigurationError, match=r"'e\.g\.'"):
        await run(["x"], {"e.g.": "for example"})


async def test_it_composes_with_the_core_stages() -> None:
    said = stream.iterate(["**Restart** ngi", "nx now."]) | pronounce.pipe(LEXICON) | clean.pipe()
    async with said.stream() as texts:
        assert "".join([text async for text in texts]) == "Restart engine x now."
