"""The sentence segmenter: where speech is cut, fed whole and token by token."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.text import (
    MarkdownCleaner,
    Segment,
    Segmenter,
    SegmenterOptions,
    clean_markdown,
)

#: Cut at every sentence pysbd accepts: the strictest setting for "never cut inside X".
EAGER = SegmenterOptions(min_chars=0, first_fragment=False)


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


def segment(
    text: str, options: SegmenterOptions = EAGER, sizes: tuple[int, ...] = (1, 3, 2)
) -> list[Segment]:
    """Segment ``text`` fed in small chunks; check it agrees with feeding it whole."""
    seg = Segmenter(options)
    out: list[Segment] = []
    for chunk in chunks(text, sizes):
        out.extend(seg.feed(chunk))
    out.extend(seg.flush())
    whole = Segmenter(options)
    assert whole.feed(text) + whole.flush() == out
    assert "".join(s.text for s in out) == text
    return out


def texts(text: str, options: SegmenterOptions = EAGER) -> list[str]:
    """The segment texts of ``text``."""
    return [s.text for s in segment(text, options)]


# --- what must never be cut ----------------------------------------------------------------

NEVER_CUT_INSIDE = [
    pytest.param(["Dr. Smith met Mr. Jones at noon. ", "They talked."], id="titles"),
    pytest.param(
        ["Bring fruit, e.g. apples, i.e. something sweet. ", "Then rest."], id="e.g.-i.e."
    ),
    pytest.param(["The U.S. economy grew fast. ", "Then it slowed."], id="U.S."),
    pytest.param(["We packed tents, stoves, etc. and left early. ", "It rained."], id="etc."),
    pytest.param(["J. R. R. Tolkien wrote it. ", "It sold well."], id="initials"),
    pytest.param(["Pi is about 3.14 in most uses. ", "Round it."], id="decimal"),
    pytest.param(["It cost $1.5 million in total. ", "Nobody paid."], id="money"),
    pytest.param(["He was born on Jan. 1, 1980. ", "He moved later."], id="month-abbrev"),
    pytest.param(["It started on 1.1.2020 in Berlin. ", "It ended soon."], id="dotted-date"),
    pytest.param(["Meet me at 10:30 a.m. tomorrow please. ", "Bring cake."], id="time"),
    pytest.param(["Install v1.2.3 or Python 3.11 first. ", "Then run it."], id="versions"),
    pytest.param(["Visit https://example.com/a.b?c=d for more. ", "Thanks."], id="url"),
    pytest.param(["Write to john.doe@example.com today. ", "Thanks."], id="email"),
    pytest.param(["Go to example.com for the details. ", "Thanks."], id="domain"),
    pytest.param(["And... then it happened at last. ", "Fine."], id="ellipsis-inside"),
    pytest.param(["He said (see Fig. 2.) that it works. ", "Good."], id="brackets"),
    pytest.param(['"Stop. Now," she said firmly. ', "Then left."], id="quotes"),
    pytest.param(["“Wait. Listen,” he said. ", "We did."], id="curly-quotes"),
    pytest.param(["Wait <mark name='end. B'/> here please. ", "Now go."], id="inside-a-tag"),
    pytest.param(["It weighs approx. 5 kg in total. ", "Lift it."], id="approx"),
    pytest.param(["Prof. Lee and St. Louis met. ", "Good."], id="prof-st"),
]


@pytest.mark.parametrize("expected", NEVER_CUT_INSIDE)
def test_sentences_are_cut_only_where_they_end(expected: list[str]) -> None:
    assert texts("".join(expected)) == expected


def test_ellipsis_before_a_capitalised_word_may_end_a_sentence() -> None:
    assert texts("Wait... What was that? Nothing.") == ["Wait... ", "What was that? ", "Nothing."]


def test_abbreviation_at_the_end_of_a_sentence_still_ends_it() -> None:
    assert texts("The meeting ends at 5 p.m. Then we go home.") == [
        "The meeting ends at 5 p.m. ",
        "Then we go home.",
    ]


def test_list_items_cleaned_from_markdown_are_separate_sentences() -> None:
    spoken = clean_markdown("1. Open the box\n2. Close it\n3. Ship it.")
    assert texts(spoken) == ["Open the box.\n", "Close it.\n", "Ship it."]


def test_a_line_break_ends_a_sentence() -> None:
    assert texts("First line without period\nSecond line here.") == [
        "First line without period\n",
        "Second line here.",
    ]


# --- whitespace, short answers, lookahead --------------------------------------------------


def test_whitespace_between_segments_is_kept() -> None:
    # pipecat #3242: "12345." followed by "Let" without the space is read as one token
    segs = texts("Your confirmation code is 12345.   Let me know if it works.")
    assert segs == ["Your confirmation code is 12345.   ", "Let me know if it works."]


def test_a_short_final_answer_is_still_spoken() -> None:
    # openai-agents #3363
    seg = Segmenter()
    assert seg.feed("OK.") == []
    assert seg.flush() == [Segment("OK.", 0, "flush")]


def test_short_sentences_merge_with_the_next_one_except_the_first() -> None:
    # the first sentence goes out at once however short; later ones merge up to min_chars
    options = SegmenterOptions(min_chars=20, first_fragment=False)
    assert texts("OK. Sure. Fine. Let me check the weather for you. It is sunny.", options) == [
        "OK. ",
        "Sure. Fine. Let me check the weather for you. ",
        "It is sunny.",
    ]


def test_a_clear_boundary_is_cut_at_the_first_character_that_settles_it() -> None:
    # livekit #3798: the first sentence must not wait for the second one
    seg = Segmenter(SegmenterOptions(first_fragment=False))
    assert seg.feed("The first sentence is complete now.") == []
    assert seg.feed(" ") == []  # "now. the" would not be a boundary
    assert [s.text for s in seg.feed("S")] == ["The first sentence is complete now. "]
    assert seg.pending == "S"


def test_an_ambiguous_boundary_waits_one_word() -> None:
    seg = Segmenter(SegmenterOptions(first_fragment=False))
    assert seg.feed("We met Dr. S") == []  # an abbreviation before a capital: ask pysbd
    assert seg.feed("mith") == []
    assert seg.feed(" today. ") == []
    assert [s.text for s in seg.feed("He")] == ["We met Dr. Smith today. "]


def test_first_fragment_cuts_the_first_clause_early() -> None:
    text = "Sure, I can help you with that, let me look up your order. It shipped, I think."
    segs = segment(text, SegmenterOptions())
    assert [(s.text, s.reason) for s in segs] == [
        ("Sure, I can help you with that, ", "first_fragment"),
        ("let me look up your order. ", "sentence"),
        ("It shipped, I think.", "flush"),
    ]


def test_first_fragment_cuts_a_long_clause_after_a_few_words() -> None:
    text = "This first sentence has no commas at all and it simply keeps on going until the end."
    options = SegmenterOptions(first_fragment_max_words=12)
    first = segment(text, options)[0]
    assert first.reason == "first_fragment"
    assert len(first.text.split()) == 12


def test_first_fragment_is_off_when_disabled_and_waits_for_brackets() -> None:
    text = "Here is the plan (roughly, in short, for now) and then more words follow here."
    assert texts(text, SegmenterOptions(first_fragment=False)) == [text]
    first = segment(text, SegmenterOptions())[0].text
    assert first.count("(") == first.count(")")


def test_first_fragment_applies_again_after_a_new_turn() -> None:
    seg = Segmenter()
    text = "Well, let me think about that one, and then answer it. Fine."
    first = [s.reason for s in seg.feed(text) + seg.flush()]
    seg.reset()
    again = [s.reason for s in seg.feed(text) + seg.flush()]
    assert first == again
    assert first[0] == "first_fragment"


# --- the length cap ------------------------------------------------------------------------


def test_long_text_is_cut_at_word_boundaries_within_max_chars() -> None:
    text = " ".join(f"word{n}" for n in range(300)) + "."
    options = SegmenterOptions(max_chars=100, first_fragment=False)
    segs = segment(text, options)
    assert all(len(s.text) <= 100 for s in segs)
    assert all(s.text.endswith(" ") for s in segs[:-1])  # never inside a word
    assert {s.reason for s in segs[:-1]} == {"max_length"}


def test_the_cap_prefers_clause_boundaries() -> None:
    text = "alpha beta gamma delta, epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi"
    options = SegmenterOptions(max_chars=60, first_fragment=False)
    assert texts(text, options)[0] == "alpha beta gamma delta, "


def test_the_cap_avoids_urls_tags_and_digit_groups() -> None:
    options = SegmenterOptions(max_chars=40, min_chars=5, first_fragment=False)
    url = "https://example.com/a/very/long/path?x=1"
    for text, protected in [
        (f"see this one {url} for more", url),
        (
            'say this <prosody rate="slow" volume="loud">slowly</prosody> now',
            '<prosody rate="slow" volume="loud">',
        ),
        ("the total comes to 1 000 000 000 dollars in all", "1 000 000 000"),
    ]:
        start = text.index(protected)
        cuts = list(itertools.accumulate(len(s) for s in texts(text, options)))[:-1]
        assert all(not start < c < start + len(protected) for c in cuts), (text, cuts)


def test_text_without_spaces_is_hard_cut_at_max_chars() -> None:
    options = SegmenterOptions(max_chars=400)
    segs = segment("x" * 1000, options)
    assert [len(s.text) for s in segs] == [400, 400, 200]


def test_max_chars_is_bounded_by_the_text_event_limit() -> None:
    SegmenterOptions(max_chars=6000)
    with pytest.raises(ConfigurationError, match="6000"):
        SegmenterOptions(max_chars=6001)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_chars": 0},
        {"min_chars": -1},
        {"min_chars": 500},
        {"language": "xx"},
        {"first_fragment_max_words": 0},
        {"first_fragment_min_chars": 1.5},
    ],
)
def test_bad_options_are_configuration_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        SegmenterOptions(**kwargs)  # type: ignore[arg-type]


# --- turns ---------------------------------------------------------------------------------


def test_reset_forgets_the_previous_turn() -> None:
    # pipecat #754: nothing from a previous turn may leak into the next
    seg = Segmenter()
    seg.feed('An interrupted answer with an open "quote and (bracket <tag')
    seg.reset()
    assert seg.pending == ""
    segs = seg.feed("A fresh answer starts here. And goes on. ") + seg.flush()
    assert "".join(s.text for s in segs) == "A fresh answer starts here. And goes on. "
    assert segs[0].index == 0
    assert segs[0].text == "A fresh answer starts here. "


def test_flush_starts_a_new_turn() -> None:
    seg = Segmenter()
    seg.feed("First turn")
    assert [s.text for s in seg.flush()] == ["First turn"]
    assert seg.pending == ""
    assert seg.flush() == []
    assert seg.feed("Second turn.") == []
    assert seg.flush() == [Segment("Second turn.", 0, "flush")]


def test_pending_is_what_was_held_back() -> None:
    seg = Segmenter(EAGER)
    done = seg.feed("One sentence here. Two sentences ")
    assert "".join(s.text for s in done) + seg.pending == "One sentence here. Two sentences "


# --- properties ----------------------------------------------------------------------------

WORDS = [
    "Hello",
    "world.",
    "Dr.",
    "Smith",
    "e.g.",
    "3.14",
    "(see",
    "Fig.",
    "2.)",
    '"Stop.',
    'Now,"',
    "OK.",
    "a,",
    "—",
    "<break",
    'time="1s"/>',
    "https://x.com/a.b?c=d",
    "10:30",
    "a.m.",
    "Then",
    "why?",
    "Wait...",
    "what",
    "J.",
    "R.",
    "1",
    "000",
    "x" * 45,
]
SEPARATORS = [" ", "  ", "\n", " \n\n", "\t"]
prose = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=70).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)
options = st.builds(
    SegmenterOptions,
    min_chars=st.integers(0, 40),
    max_chars=st.integers(50, 300),
    first_fragment=st.booleans(),
    first_fragment_min_chars=st.integers(0, 40),
    first_fragment_max_words=st.integers(1, 15),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prose, st.lists(st.integers(1, 4), min_size=1, max_size=8), options)
def test_any_chunking_gives_the_same_segments(
    text: str, sizes: list[int], opts: SegmenterOptions
) -> None:
    segs = segment(text, opts, tuple(sizes))  # checks concatenation and chunk independence
    assert all(0 < len(s.text) <= opts.max_chars for s in segs)
    assert [s.index for s in segs] == list(range(len(segs)))
    # every word is shorter than max_chars, so no cut falls inside a word
    cuts = itertools.accumulate(len(s.text) for s in segs[:-1])
    assert all(text[c - 1].isspace() or text[c].isspace() for c in cuts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(["**Hi**", "- item", "## Head", "`x.y`", "[a](b)", "🎉"]), max_size=6)
    .flatmap(lambda parts: st.just("\n".join(parts) + "\n"))
    .map(lambda md: md + "Dr. Smith said it works. It does, e.g. here. "),
    st.lists(st.integers(1, 4), min_size=1, max_size=5),
)
def test_cleaner_then_segmenter_streams_like_the_whole_text(md: str, sizes: list[int]) -> None:
    cleaner, streamed = MarkdownCleaner(), Segmenter()
    segs: list[Segment] = []
    for chunk in chunks(md, tuple(sizes)):
        segs.extend(streamed.feed(cleaner.feed(chunk)))
    segs.extend(streamed.feed(cleaner.flush()) + streamed.flush())
    whole = Segmenter()
    assert segs == whole.feed(clean_markdown(md)) + whole.flush()


def test_a_pathological_grapheme_is_cut_in_full_length_pieces() -> None:
    # 6,000 combining accents on one letter used to leave as 6,000 one-character TextEvents
    text = "a" + "\u0301" * 6000
    for feed in ([text], list(text)):
        seg = Segmenter(SegmenterOptions(max_chars=400))
        segs = [s for piece in feed for s in seg.feed(piece)] + seg.flush()
        assert "".join(s.text for s in segs) == text
        assert len(segs) == 16  # 15 full cuts of 400 characters and the rest
        assert all(len(s.text) == 400 for s in segs[:-1])


#: Grapheme clusters a listener hears as one character: emoji ZWJ sequences, skin tones,
#: flags (regional-indicator pairs), a keycap, decomposed Hangul syllables (conjoining jamo)
#: and Devanagari conjuncts and vowel signs.
CLUSTERS = {
    "family": ["👨\u200d👩\u200d👧\u200d👦"],
    "family-skin": ["👨🏽\u200d👩🏽\u200d👧🏽", "👩🏿\u200d🤝\u200d👨🏻"],
    "skin-tones": ["👍🏽", "👋🏿", "🧑🏻"],
    "flags": ["🇺🇸", "🇩🇪", "🇯🇵", "🇫🇷"],
    "keycap": ["1\ufe0f\u20e3"],
    "hangul-jamo": ["\u1112\u1161\u11ab", "\u1100\u116e\u11a8", "\u110b\u1165"],
    "devanagari": ["न", "म", "स्ते", "हि", "न्दी", "क्षि", "स्त्री", "का"],
}


@pytest.mark.parametrize("name", CLUSTERS)
def test_the_length_cap_never_splits_a_grapheme_cluster(name: str) -> None:
    clusters = CLUSTERS[name]
    run = [clusters[n % len(clusters)] for n in range(40)]
    text = "".join(run)
    allowed = set(itertools.accumulate(len(c) for c in run))
    for max_chars in range(max(map(len, clusters)), 61):
        options = SegmenterOptions(max_chars=max_chars, min_chars=0)
        for sizes in ((len(text),), (1,), (3, 1, 2)):
            segs = segment(text, options, sizes)
            assert all(len(s.text) <= max_chars for s in segs)
            cuts = list(itertools.accumulate(len(s.text) for s in segs))
            assert set(cuts) <= allowed, (max_chars, [s.text for s in segs])


def test_a_line_ending_in_a_colon_is_released_at_its_newline() -> None:
    # "Here is what you need to do:" introduces a list: nothing after it can change the cut
    seg = Segmenter()
    assert seg.feed("Sure. ") == []
    assert [s.text for s in seg.feed("H")] == ["Sure. "]
    assert [s.text for s in seg.feed("ere is what you need to do:\n")] == [
        "Here is what you need to do:\n"
    ]


CATCH_UP_ANSWER = (
    "Sure. The sky looks blue because the molecules of the air scatter the short, blue "
    "wavelengths of sunlight far more strongly than the long, red ones. Ask me more."
)


def _segments(text: str, hurry: bool) -> list[Segment]:
    segmenter = Segmenter()
    segmenter.hurry = hurry
    out: list[Segment] = []
    for i in range(0, len(text), 4):
        out += segmenter.feed(text[i : i + 4])
    return out + segmenter.flush()


def test_a_hurried_segmenter_cuts_a_later_sentence_at_its_first_clause() -> None:
    whole = _segments(CATCH_UP_ANSWER, hurry=False)
    hurried = _segments(CATCH_UP_ANSWER, hurry=True)
    assert [s.text for s in whole][:2] == [
        "Sure. ",
        "The sky looks blue because the molecules of the air scatter the short, blue "
        "wavelengths of sunlight far more strongly than the long, red ones. ",
    ]
    assert [(s.text, s.reason) for s in hurried][:3] == [
        ("Sure. ", "sentence"),
        ("The sky looks blue because the molecules of the air scatter the short, ", "catch_up"),
        ("blue wavelengths of sunlight far more strongly than the long, ", "catch_up"),
    ]
    assert "".join(s.text for s in hurried) == CATCH_UP_ANSWER


@pytest.mark.parametrize(
    "sentence",
    [
        "He was born on Jan. 1, 1980 in a small town and moved away later.",
        "They drove from St. Louis, Mo. to the coast in a single long day.",
        "The office in Washington, D.C. opened its doors again this spring.",
        "We packed the apples and the pears, plums.",  # never orphans the last word
    ],
)
def test_a_hurried_cut_keeps_the_first_fragment_rules(sentence: str) -> None:
    text = "Sure. " + sentence
    cuts = [s.text for s in _segments(text, hurry=True)]
    assert "".join(cuts) == text
    for cut in cuts[1:-1]:
        assert not cut.endswith(("Jan. 1, ", "St. Louis, ", "Washington, ", "pears, "))
    assert cuts[-1].split()[-1] == text.split()[-1]
    assert len(cuts[-1].split()) > 1


def test_a_hurried_segmenter_cuts_no_sentence_without_a_clause() -> None:
    text = "Sure. Every" + " word" * 30 + " ends here."
    assert [s.text for s in _segments(text, hurry=True)] == ["Sure. ", text[6:]]
