"""The pure core shared by the ``segment`` stage and the gateway: flushes and catching up."""

from __future__ import annotations

from polly_pipeline.local.demo_answers import tokenize
from polly_pipeline.pipeline import FlushPolicy, SpeechItem
from polly_pipeline.pipeline.speech_text import SpeechText
from polly_pipeline.text.segment import Segmenter, SegmenterOptions

ANSWER = (
    "Sure. The sky looks blue because the molecules of the air scatter the short, blue "
    "wavelengths of sunlight far more strongly than the long, red ones, so blue light reaches "
    "your eyes from every part of the sky. At sunset the light crosses much more air, and "
    "the reds remain."
)


def written(
    policy: FlushPolicy, seconds_per_character: float = 0.07, pace: float = 0.025
) -> list[tuple[int, SpeechItem]]:
    """The items for ANSWER written one token every ``pace`` seconds, with the token index
    each came out at (the end of the turn counts as one more token)."""
    text = SpeechText(
        Segmenter(SegmenterOptions(language="en-US")), policy, lambda: seconds_per_character
    )
    tokens = tokenize(ANSWER)
    out = [(i, item) for i, tok in enumerate(tokens) for item in text.feed(tok, i * pace)]
    return out + [(len(tokens), item) for item in text.end()]


def test_a_long_sentence_after_a_short_one_is_cut_at_a_clause_and_flushed() -> None:
    items = written(FlushPolicy())
    assert "".join(item.text for _, item in items) == ANSWER  # nothing lost or repeated
    first, second = items[0][1], items[1][1]
    assert (first.text, first.flush) == ("Sure. ", True)
    # "Sure." lasts about 0.35 s; the long sentence is not awaited whole
    assert second.reason == "catch_up"
    assert second.flush
    assert second.text.endswith(", ")
    assert ANSWER.index(second.text) == len("Sure. ")
    sentence_end = next(i for i, _ in items if _.text.endswith("sky. "))
    assert items[1][0] < sentence_end


def test_without_catching_up_the_long_sentence_goes_whole() -> None:
    items = written(FlushPolicy(catch_up_below=0))
    assert [item.reason for _, item in items] == ["sentence", "sentence", "flush"]
    assert items[1][1].text.startswith("The sky")
    assert items[1][1].text.endswith("sky. ")
    assert not items[1][1].flush  # the middle is left to Polly's own boundaries


def test_with_enough_audio_ahead_sentences_go_whole() -> None:
    # a slow voice: "Sure." alone is 5 s of audio, more than the 1 s the policy keeps ahead
    items = written(FlushPolicy(), seconds_per_character=1.0)
    assert "catch_up" not in [item.reason for _, item in items]
    assert "".join(item.text for _, item in items) == ANSWER


def test_a_stall_releases_what_is_held_and_flushes_the_last_piece() -> None:
    text = SpeechText(Segmenter(SegmenterOptions(language="en-US")), FlushPolicy())
    assert not text.stall_due
    assert text.feed("Sure. The sky is", 0.0) == [SpeechItem("Sure. ", True, "sentence")]
    assert text.stall_due  # "The sky is" is held
    assert text.release("stall") == [SpeechItem("The sky is", True, "stall")]
    assert not text.stall_due
    assert text.release("stall") == [SpeechItem("", True, "stall")]  # an empty flush


def test_end_only_never_flushes_nor_waits_for_a_stall() -> None:
    text = SpeechText(Segmenter(SegmenterOptions(language="en-US")), FlushPolicy("end_only"))
    items = text.feed("Sure. The sky is blue. And", 0.0)
    assert not text.stall_due
    items += text.end(" more.")
    assert "".join(i.text for i in items) == "Sure. The sky is blue. And more."
    assert not any(i.flush for i in items)
