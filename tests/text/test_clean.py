"""The markdown cleaner: what a listener hears, fed whole and in LLM-sized chunks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.text import CleanOptions, MarkdownCleaner, clean_markdown


def chunks(text: str, sizes: tuple[int, ...] = (1, 3, 2)) -> list[str]:
    """Split ``text`` into chunks whose sizes cycle through ``sizes``."""
    out: list[str] = []
    i = 0
    for n in itertools.cycle(sizes):
        if i >= len(text):
            return out
        out.append(text[i : i + n])
        i += n
    raise AssertionError("unreachable")


DEFAULTS = CleanOptions()


def spoken(text: str, options: CleanOptions = DEFAULTS) -> str:
    """Clean ``text`` streamed in 1-3 character chunks, checking it matches the whole-text run."""
    cleaner = MarkdownCleaner(options)
    streamed = "".join(cleaner.feed(c) for c in chunks(text)) + cleaner.flush()
    assert streamed == clean_markdown(text, options)
    return streamed


# --- prose and whitespace --------------------------------------------------------------


def test_plain_prose_is_spoken_unchanged() -> None:
    text = "Hello there! The weather is nice today, isn't it? Let's go for a walk."
    assert spoken(text) == text


def test_words_are_never_glued_across_lines_or_chunks() -> None:
    # pipecat #3242: "12345." + "Let" without the space is read as one token
    assert spoken("Your code is 12345.\nLet me know if it works.") == (
        "Your code is 12345.\nLet me know if it works."
    )
    cleaner = MarkdownCleaner()
    out = cleaner.feed("Your code is 12345.") + cleaner.feed("\n") + cleaner.feed("Let me")
    assert out + cleaner.flush() == "Your code is 12345.\nLet me"


def test_runs_of_whitespace_collapse_and_edges_are_trimmed() -> None:
    assert spoken("  Lots   of\tspace \t here.  \n") == "Lots of space here.\n"
    assert spoken("  Lots   of\tspace \t here.  ") == "Lots of space here."


def test_soft_line_breaks_join_and_blank_lines_end_a_sentence() -> None:
    assert spoken("This sentence wraps\nonto a second line.") == (
        "This sentence wraps onto a second line."
    )
    assert spoken("A title without a period\n\nThen the text.") == (
        "A title without a period.\nThen the text."
    )


def test_windows_line_endings() -> None:
    assert spoken("First paragraph\r\n\r\nSecond line\r\ncontinues") == (
        "First paragraph.\nSecond line continues"
    )


def test_prose_streams_with_at_most_the_partial_word_held_back() -> None:
    text = "The quick brown fox jumps over the lazy dog and keeps on running far away"
    cleaner = MarkdownCleaner()
    out = ""
    for i, chunk in enumerate(chunks(text), start=1):
        out += cleaner.feed(chunk)
        fed = "".join(chunks(text)[:i])
        complete_words = fed.rsplit(" ", 1)[0] if " " in fed else ""
        assert out.startswith(complete_words), (fed, out)


def test_a_long_answer_fed_char_by_char_keeps_nothing_but_the_last_word() -> None:
    text = "word " * 2000 + "end"
    cleaner = MarkdownCleaner()
    out = "".join(cleaner.feed(ch) for ch in text)
    assert len(out) >= len(text) - len("end") - 1


# --- inline markdown ---------------------------------------------------------------------


def test_emphasis_markers_are_not_spoken() -> None:
    text = "This is **very** important, *really* __important__ and _subtle_, not ~~wrong~~ ok."
    assert spoken(text) == "This is very important, really important and subtle, not wrong ok."


def test_asterisks_and_underscores_that_are_not_emphasis_stay() -> None:
    assert spoken("Set my_var_name to 5 * 3 now.") == "Set my_var_name to 5 * 3 now."
    assert spoken("About ~5 minutes.") == "About ~5 minutes."


def test_inline_code_keeps_the_code_text_without_backticks() -> None:
    assert spoken("Run `pip install foo_bar**` now.") == "Run pip install foo_bar** now."
    assert spoken("Use ``a ` b`` here.") == "Use a ` b here."


def test_backslash_escapes_speak_the_character() -> None:
    assert spoken(r"Prices \*may\* vary \_ok\_.") == "Prices *may* vary _ok_."


def test_links_speak_their_text_not_the_url() -> None:
    text = 'Read [the guide](https://example.com/a_(b)?x=1 "Guide") first.'
    assert spoken(text) == "Read the guide first."


def test_reference_links_and_their_definitions() -> None:
    text = "See [the docs][1] for details.\n\n[1]: https://example.com/docs\n"
    assert spoken(text) == "See the docs for details.\n"


def test_links_can_be_dropped_entirely() -> None:
    options = CleanOptions(speak_link_text=False)
    assert spoken("Read [the guide](https://x.com) first.", options) == "Read first."
    # brackets that are not a link are still spoken
    assert spoken("Pick one [a or b] now.", options) == "Pick one a or b now."


def test_images_speak_their_alt_text() -> None:
    assert spoken("Look: ![A red fox](fox.png) there.") == "Look: A red fox there."
    assert spoken("[![Build status](https://ci/badge.svg)](https://ci) ok") == "Build status ok"


def test_bare_urls_speak_their_host_name() -> None:
    # a path read out character by character helps no listener; where the link goes does
    url = "https://example.com/some_path_(x)/~user?q=1&r=_2_"
    assert spoken(f"Open {url} now.") == "Open example.com now."
    assert spoken("Bold **https://example.com/a_b** link") == "Bold example.com link"
    assert spoken("Try www.example.com/_x_ today") == "Try example.com today"
    assert spoken("Read https://docs.aws.amazon.com/polly/latest/dg/what-is.html. Then go.") == (
        "Read docs.aws.amazon.com. Then go."
    )
    assert spoken("(see https://en.wikipedia.org/wiki/Foo_(bar)) or not") == (
        "(see en.wikipedia.org) or not"
    )
    assert spoken("Visit https://example.com, then rest.") == "Visit example.com, then rest."
    assert spoken("Mail <jo_doe@example.com> or <https://x.com/a_b>.") == (
        "Mail jo_doe@example.com or x.com."
    )


def test_an_emoji_right_after_a_url_ends_it_in_any_chunking() -> None:
    # streamed, the emoji used to be read before the URL noticed it ended: "start" was lost
    text = "Docs: https://example.com/guide👉start here."
    assert spoken(text) == "Docs: example.com start here."
    keep = CleanOptions(drop_emoji=False)
    assert spoken(text, keep) == "Docs: example.com👉start here."
    for options in (DEFAULTS, keep):
        cleaner = MarkdownCleaner(options)
        by_char = "".join(cleaner.feed(c) for c in text) + cleaner.flush()
        assert by_char == clean_markdown(text, options)


def test_markup_right_after_a_url_reads_the_same_in_any_chunking() -> None:
    # the URL ended exactly where a chunk began; the "*" closing the emphasis was then judged
    # against the chunk's last character instead of the "_" before it, and spoken
    text = "See https://x.y/_a_* now, **and https://example.com/b_**. Done."
    whole = clean_markdown(text, DEFAULTS)
    assert "*" not in whole
    for size in range(1, 8):
        for first in range(1, size + 1):
            cleaner = MarkdownCleaner(DEFAULTS)
            cuts = [0, *range(first, len(text), size), len(text)]
            pieces = [text[a:b] for a, b in itertools.pairwise(cuts)]
            assert "".join(cleaner.feed(p) for p in pieces) + cleaner.flush() == whole, pieces


# --- tags and SSML safety ---------------------------------------------------------------


def test_html_and_ssml_tags_are_removed() -> None:
    text = 'This is <b>bold</b>,<br/>a <span class="x">span</span> and <!-- hidden --> done.'
    assert spoken(text) == "This is bold, a span and done."


def test_model_output_never_becomes_ssml() -> None:
    text = '<speak>Hi <break time="3s"/> there</speak> <prosody rate="x-slow">slow</prosody>'
    assert spoken(text) == "Hi there slow"
    escaped = spoken(text + " & more", CleanOptions(ssml_escape=True))
    assert escaped == "Hi there slow &amp; more"


def test_comparisons_are_not_mistaken_for_tags() -> None:
    assert spoken("If a < b and c > d, stop.") == "If a < b and c > d, stop."
    escaped = spoken("If a < b & c > d, stop.", CleanOptions(ssml_escape=True))
    assert escaped == "If a &lt; b &amp; c &gt; d, stop."


# --- blocks ----------------------------------------------------------------------------


def test_headings_become_their_own_sentence() -> None:
    assert spoken("## Installing the tool\nFirst, download it.") == (
        "Installing the tool.\nFirst, download it."
    )
    assert spoken("# Done! #\nBye") == "Done!\nBye"
    assert spoken("#hashtag is not a heading") == "#hashtag is not a heading"


def test_setext_headings_and_rules() -> None:
    assert spoken("Overview\n========\nSome text.\n\n---\n\n***\nMore") == (
        "Overview.\nSome text.\nMore"
    )


def test_bullets_become_separate_sentences() -> None:
    text = "You need:\n- flour\n* sugar\n+ two eggs\n- milk?\n"
    assert spoken(text) == "You need: flour.\nsugar.\ntwo eggs.\nmilk?\n"


def test_numbered_and_nested_lists() -> None:
    text = "Steps\n1. Open the app\n2) Sign in\n   - with your email\n10. Done.\n"
    assert spoken(text) == "Steps. Open the app.\nSign in.\nwith your email.\nDone.\n"


def test_numbers_at_line_start_are_not_list_markers() -> None:
    assert spoken("3.14 is pi.\n2024 was a good year.") == "3.14 is pi.\n2024 was a good year."


def test_list_items_end_at_their_newline() -> None:
    # an item is spoken as soon as its line ends; a (rare) continuation line is a new sentence
    text = "- a long item\n  that continues here\n- next item"
    assert spoken(text) == "a long item.\nthat continues here. next item."
    cleaner = MarkdownCleaner()
    assert cleaner.feed("- Flush early\n") == "Flush early.\n"


def test_blockquotes_drop_their_markers() -> None:
    text = "> To be, or not\n> to be.\n>\n> > Nested quote\n\nAfter the quote"
    assert spoken(text) == "To be, or not to be.\nNested quote.\nAfter the quote"


def test_a_bold_line_is_spoken_as_a_heading() -> None:
    assert spoken("**Summary**\nIt works.") == "Summary.\nIt works."
    assert spoken("**Note:** it works\nwell.") == "Note: it works well."


def test_tables_are_read_row_by_row() -> None:
    text = (
        "| Name | Age | City |\n"
        "|:-----|----:|:----:|\n"
        "| Alice | 30 | Paris |\n"
        "| Bob |  | **Rome** |\n"
        "\nThat is all."
    )
    assert spoken(text) == "Name, Age, City.\nAlice, 30, Paris.\nBob, Rome.\nThat is all."
    options = CleanOptions(table_cell_separator=" and ")
    assert spoken("| a | b |\n|---|---|\n| 1 | 2 |", options) == "a and b.\n1 and 2."


# --- code blocks -----------------------------------------------------------------------

CODE = "Run this:\n```python\nx = 1  # set\nprint(x)\n```\nThen check.\n"


def test_code_blocks_are_announced_by_default() -> None:
    assert spoken(CODE) == "Run this: Here is a code sample. Then check.\n"
    custom = CleanOptions(code_announcement="See the code on screen")
    assert spoken(CODE, custom) == "Run this: See the code on screen. Then check.\n"


def test_code_blocks_can_be_skipped_or_read() -> None:
    assert spoken(CODE, CleanOptions(code_blocks="skip")) == "Run this: Then check.\n"
    assert spoken(CODE, CleanOptions(code_blocks="read")) == (
        "Run this: x = 1 # set. print(x). Then check.\n"
    )


def test_code_block_contents_are_never_treated_as_markdown() -> None:
    text = "~~~\n# not a heading\n- not a list\n```\nstill code\n~~~\nAfter"
    assert spoken(text, CleanOptions(code_blocks="skip")) == "After"
    read = spoken(text, CleanOptions(code_blocks="read"))
    assert read == "# not a heading. - not a list. ```. still code. After"


def test_an_unclosed_code_block_ends_with_the_answer() -> None:
    skip = CleanOptions(code_blocks="skip")
    assert spoken("Look:\n```\ncode without end", skip) == "Look:"
    assert spoken("Look here\n```\ncode without end", skip) == "Look here."


def test_fenced_code_inside_a_list_item() -> None:
    text = "1. Install:\n   ```bash\n   pip install x\n   ```\n2. Run it"
    assert spoken(text) == "Install:\nHere is a code sample. Run it."


# --- emoji -----------------------------------------------------------------------------


def test_emoji_are_not_read_aloud() -> None:
    text = "Great job 🎉! Thumbs 👍🏽 up, family 👨‍👩‍👧 time in 🇺🇸, step 1️⃣ ✅ done ❤️"
    assert spoken(text) == "Great job! Thumbs up, family time in, step 1 done"


def test_an_emoji_between_words_still_separates_them() -> None:
    assert spoken("Thanks🙏see you") == "Thanks see you"


def test_text_symbols_are_not_emoji() -> None:
    text = "It is 25°C → warm. © 2024 Acme™, 5 ≥ 3."
    assert spoken(text) == text


def test_zero_width_joiner_outside_emoji_is_kept() -> None:
    assert spoken("क्\u200dष") == "क्\u200dष"


def test_emoji_can_be_kept() -> None:
    assert spoken("Nice 👍🏽 work", CleanOptions(drop_emoji=False)) == "Nice 👍🏽 work"


# --- turns -----------------------------------------------------------------------------


def test_reset_drops_everything_held_from_the_previous_turn() -> None:
    cleaner = MarkdownCleaner(CleanOptions(code_blocks="skip"))
    cleaner.feed("Let me show you:\n```\nsecret code that never clo")
    cleaner.feed("## Unfinished **bold [link")
    cleaner.reset()
    assert cleaner.feed("Fresh answer.") + cleaner.flush() == "Fresh answer."


def test_flush_ends_the_turn() -> None:
    cleaner = MarkdownCleaner()
    assert cleaner.feed("- last item") + cleaner.flush() == "last item."
    assert cleaner.feed("**Next turn") + cleaner.flush() == "Next turn"


def test_short_answers_are_spoken() -> None:
    assert spoken("OK.") == "OK."
    assert spoken("👍") == ""
    assert spoken("") == ""


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="code_blocks"):
        CleanOptions(code_blocks="mumble")  # type: ignore[arg-type]


# --- properties ------------------------------------------------------------------------

PIECES = [
    *"ab Z1.,:;!?*_~`[]()<>/|#-+=\\\n\t\r\"'&",
    "http://",
    "https://x.y/_a_",
    "www.",
    "```",
    "~~~",
    "> ",
    "- ",
    "* ",
    "1. ",
    "## ",
    "<b>",
    "</b>",
    "<br/>",
    "<!--",
    "-->",
    "🎉",
    "\u200d",
    "\ufe0f",
    "👍🏽",
    "🇺🇸",
    "|---|",
    "![",
    "](",
    "e.g. ",
    " Next",
    "**",
    "__",
    "[x]: ",
    "    ",
    "<https://a.b>",
    "<a@b.c>",
    "---\n",
    "&amp;",
    "&#39",
    "&nbsp",
    ";",
    "[^",
    "&#x1F600;",
    "&#39a;",
]
markdownish = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=60).map("".join), st.text(max_size=40)
)
options = st.builds(
    CleanOptions,
    code_blocks=st.sampled_from(["skip", "announce", "read"]),
    speak_link_text=st.booleans(),
    ssml_escape=st.booleans(),
    drop_emoji=st.booleans(),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdownish, st.lists(st.integers(1, 7), min_size=1, max_size=8), options)
def test_any_chunking_speaks_the_same_text(text: str, sizes: list[int], opts: CleanOptions) -> None:
    cleaner = MarkdownCleaner(opts)
    streamed = "".join(cleaner.feed(c) for c in chunks(text, tuple(sizes))) + cleaner.flush()
    assert streamed == clean_markdown(text, opts)


@settings(max_examples=300, deadline=None)
@given(markdownish, options)
def test_output_is_single_spaced_plain_text(text: str, opts: CleanOptions) -> None:
    out = clean_markdown(text, opts)
    # one space between words; a single newline (ending a block) may take its place
    for gap in ("  ", "\n\n", " \n", "\n "):
        assert gap not in out
    assert out == out.lstrip()
    assert out.rstrip("\n") == out.strip()
    if opts.ssml_escape:
        assert "<" not in out
        assert ">" not in out


def test_html_entities_are_spoken_as_their_characters() -> None:
    assert spoken("AT&T &amp; Tom&nbsp;Jerry say &#39;hi&#39; &bogus; &") == (
        "AT&T & Tom Jerry say 'hi' &bogus; &"
    )


def test_escaped_or_quoted_markup_is_text_not_a_tag() -> None:
    assert spoken("Use `<br>` or &lt;br&gt; tags.") == "Use <br> or <br> tags."
    ssml = spoken("Use `<br>` or &lt;br&gt; tags.", CleanOptions(ssml_escape=True))
    assert ssml == "Use &lt;br&gt; or &lt;br&gt; tags."


def test_an_emoji_written_as_an_entity_is_dropped_too() -> None:
    assert spoken("Smile&#x1F600;please &#9989; done") == "Smile please done"


def test_pipes_inside_inline_code_do_not_split_table_cells() -> None:
    assert spoken("| Operator | Use |\n|---|---|\n| `a|b` | either |") == (
        "Operator, Use.\na|b, either."
    )


def test_footnotes_are_not_read() -> None:
    assert spoken("A bold claim[^1] here.\n\n[^1]: The source, page 3.\n") == "A bold claim here.\n"
