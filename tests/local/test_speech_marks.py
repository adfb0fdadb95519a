"""SynthesizeSpeech with OutputFormat=json returns speech marks, through botocore's own client."""

from __future__ import annotations

import json

import pytest

from polly_pipeline.audio import decode_audio, duration_seconds
from polly_pipeline.local.service import LocalPollyService

TEXT = "Mary had a little lamb. Its fleece was white as snow, café au lait!"


def marks_of(local_polly: LocalPollyService, **kwargs: object) -> list[dict[str, object]]:
    polly = local_polly.botocore_client()
    response = polly.synthesize_speech(
        Text=TEXT, VoiceId="Joanna", OutputFormat="json", Engine="neural", **kwargs
    )
    assert response["ContentType"] == "application/x-json-stream"
    lines = response["AudioStream"].read().decode().splitlines()
    return [json.loads(line) for line in lines]


def test_sentence_and_word_marks_point_into_the_text(local_polly: LocalPollyService) -> None:
    marks = marks_of(local_polly, SpeechMarkTypes=["sentence", "word"])
    raw = TEXT.encode()
    sentences = [m for m in marks if m["type"] == "sentence"]
    words = [m for m in marks if m["type"] == "word"]
    assert [m["value"] for m in sentences] == [
        "Mary had a little lamb.",
        "Its fleece was white as snow, café au lait!",
    ]
    assert [m["value"] for m in words] == TEXT.replace(".", "").replace(",", "").replace(
        "!", ""
    ).split()
    for mark in marks:  # start/end are byte offsets into the UTF-8 text
        assert raw[mark["start"] : mark["end"]].decode() == mark["value"]  # type: ignore[misc]
    times = [m["time"] for m in words]
    assert times == sorted(times)
    assert times[0] == 0
    # times come from the rendered audio: the last word starts within the audio's length
    audio = local_polly.botocore_client().synthesize_speech(
        Text=TEXT, VoiceId="Joanna", OutputFormat="pcm", Engine="neural"
    )
    seconds = duration_seconds(decode_audio(audio["AudioStream"].read(), "pcm", 16000), 16000)
    assert 0.5 * seconds * 1000 < times[-1] < seconds * 1000  # type: ignore[operator]
    assert sentences[1]["time"] == words[5]["time"]  # "Its" starts the second sentence


def test_only_the_asked_types_are_returned(local_polly: LocalPollyService) -> None:
    assert {m["type"] for m in marks_of(local_polly, SpeechMarkTypes=["word"])} == {"word"}


def test_mark_errors_are_the_ones_polly_uses(local_polly: LocalPollyService) -> None:
    polly = local_polly.botocore_client()
    with pytest.raises(polly.exceptions.MarksNotSupportedForFormatException):
        polly.synthesize_speech(
            Text=TEXT, VoiceId="Joanna", OutputFormat="mp3", SpeechMarkTypes=["word"]
        )
    with pytest.raises(polly.exceptions.SsmlMarksNotSupportedForTextTypeException):
        polly.synthesize_speech(
            Text=TEXT, VoiceId="Joanna", OutputFormat="json", SpeechMarkTypes=["ssml"]
        )
