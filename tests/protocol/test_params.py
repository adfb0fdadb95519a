"""Synthesis parameters: validated against botocore's Polly model, one error naming every field."""

from __future__ import annotations

import pytest

from polly_pipeline.errors import ParameterValidationError
from polly_pipeline.protocol.params import (
    SAMPLE_RATES,
    SynthesisParams,
    model_enum,
    text_event_problems,
)


def names(exc: pytest.ExceptionInfo[ParameterValidationError]) -> list[str]:
    return [p.name for p in exc.value.problems]


def test_defaults_send_only_required_headers() -> None:
    params = SynthesisParams.create(voice_id="Joanna")
    assert params.to_headers() == [
        ("x-amzn-Engine", "generative"),
        ("x-amzn-VoiceId", "Joanna"),
        ("x-amzn-OutputFormat", "mp3"),
    ]
    assert params.effective_sample_rate == 24000


def test_optional_headers_only_when_set() -> None:
    params = SynthesisParams.create(
        voice_id="Matthew",
        output_format="pcm",
        sample_rate=8000,
        language_code="en-US",
        lexicon_names=["tech", "names2"],
    )
    assert dict(params.to_headers()) == {
        "x-amzn-Engine": "generative",
        "x-amzn-VoiceId": "Matthew",
        "x-amzn-OutputFormat": "pcm",
        "x-amzn-LanguageCode": "en-US",
        "x-amzn-SampleRate": "8000",
        "x-amzn-LexiconNames": "tech,names2",
    }


def test_every_bad_field_is_named_in_one_error() -> None:
    with pytest.raises(ParameterValidationError) as exc:
        SynthesisParams.create(
            voice_id="Joana",
            engine="neural",
            output_format="json",
            language_code="en-XX",
            lexicon_names=["ok", "bad name!", "a", "b", "c", "d"],
        )
    assert names(exc) == [
        "engine",
        "voice_id",
        "output_format",
        "language_code",
        "lexicon_names",
        "lexicon_names",
    ]
    text = str(exc.value)
    assert "'Joanna'" in text  # a close match is suggested
    assert "speech marks" in text
    assert "at most 5" in text
    assert "'bad name!'" in text


@pytest.mark.parametrize(("fmt", "rate"), [("pcm", 24000), ("ogg_opus", 24000), ("mp3", 11025)])
def test_sample_rate_checked_per_format(fmt: str, rate: int) -> None:
    with pytest.raises(ParameterValidationError) as exc:
        SynthesisParams.create(voice_id="Joanna", output_format=fmt, sample_rate=rate)
    assert names(exc) == ["sample_rate"]
    allowed = SAMPLE_RATES[fmt][0]
    assert ", ".join(map(str, allowed)) in str(exc.value)


def test_wrong_types_are_reported_not_crashing() -> None:
    with pytest.raises(ParameterValidationError) as exc:
        SynthesisParams.create(voice_id=42, sample_rate=1.5, lexicon_names="abc")  # type: ignore[arg-type]
    assert names(exc) == ["voice_id", "sample_rate", "lexicon_names"]


def test_every_model_voice_and_streaming_format_is_accepted() -> None:
    for voice in model_enum("VoiceId"):
        SynthesisParams.create(voice_id=voice)
    for fmt, (rates, default) in SAMPLE_RATES.items():
        assert default in rates
        for rate in rates:
            SynthesisParams.create(voice_id="Ruth", output_format=fmt, sample_rate=str(rate))


def test_from_headers_uses_model_member_names() -> None:
    params, problems = SynthesisParams.from_headers(
        {
            "x-amzn-engine": "generative",
            "x-amzn-voiceid": "Nobody",
            "x-amzn-outputformat": "pcm",
            "x-amzn-samplerate": "44100",
        }
    )
    assert params is not None
    assert [p.name for p in problems] == ["VoiceId", "SampleRate"]


def test_from_headers_reports_missing_required_headers() -> None:
    params, problems = SynthesisParams.from_headers({"x-amzn-voiceid": "Joanna"})
    assert params is None
    assert [p.name for p in problems] == ["Engine", "OutputFormat"]
    assert "x-amzn-Engine header is required" in problems[0].message


def test_round_trip_through_headers() -> None:
    params = SynthesisParams.create(
        voice_id="Amy", output_format="ogg_vorbis", sample_rate=48000, lexicon_names=["a1"]
    )
    parsed, problems = SynthesisParams.from_headers({k.lower(): v for k, v in params.to_headers()})
    assert problems == []
    assert parsed == params


def test_text_event_limits() -> None:
    assert text_event_problems("x" * 6000, "text") == []
    assert text_event_problems("", "ssml") == []
    too_long = text_event_problems("x" * 6001, "text")
    assert "6001 characters" in too_long[0].message
    assert [p.name for p in text_event_problems(b"bytes", "xml")] == ["text", "text_type"]


@pytest.mark.parametrize(
    ("voice_id", "language_code", "language"),
    [
        ("Joanna", None, "en-US"),  # the voice's own
        ("Vicki", None, "de-DE"),
        ("Joanna", "es-US", "es-US"),  # a language code given wins
        ("Nobody", None, None),  # a voice this package does not know
    ],
)
def test_the_language_spoken_is_the_code_else_the_voices(
    voice_id: str, language_code: str | None, language: str | None
) -> None:
    params = SynthesisParams(voice_id=voice_id, language_code=language_code)
    assert params.language == language
