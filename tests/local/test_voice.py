"""The offline voice: real, deterministic speech from espeak-ng, in every catalog language."""

from __future__ import annotations

import asyncio
import hashlib
import math
import subprocess
import sys
from array import array
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median

import pytest

from polly_pipeline.audio import duration_seconds, resample
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.local.voice import OfflineVoice, _Engine, get_offline_voice, to_espeak_ssml
from polly_pipeline.local.voices import VoiceInfo, all_voices, get_voice

FOX = "The quick brown fox jumps over the lazy dog."
RATE = 22050


@pytest.fixture(scope="module")
def voice() -> OfflineVoice:
    return get_offline_voice()


@pytest.fixture(scope="module")
def joanna() -> VoiceInfo:
    return get_voice("Joanna")


@pytest.fixture(scope="module")
def fox(voice: OfflineVoice, joanna: VoiceInfo) -> bytes:
    return voice.synthesize(FOX, voice=joanna)


def seconds(pcm: bytes) -> float:
    return duration_seconds(pcm, RATE)


def rms(pcm: bytes) -> float:
    samples = array("h", pcm)
    return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))


def pitch_hz(pcm: bytes) -> float:
    """Median fundamental frequency of the loudest 40 ms windows (autocorrelation at 8 kHz)."""
    samples = array("h", resample(pcm, RATE, 8000))
    window = 320
    starts = sorted(
        range(0, len(samples) - window, window),
        key=lambda i: -sum(abs(x) for x in samples[i : i + window]),
    )[:9]
    estimates = []
    for start in starts:
        w = samples[start : start + window]
        period = max(
            range(8000 // 400, 8000 // 60),
            key=lambda lag: sum(w[k] * w[k + lag] for k in range(window - lag)),
        )
        estimates.append(8000 / period)
    return median(estimates)


def test_native_rate_is_espeaks(voice: OfflineVoice) -> None:
    assert voice.native_sample_rate == RATE


def test_a_sentence_sounds_like_speech(fox: bytes) -> None:
    assert len(fox) % 2 == 0
    assert 1.5 <= seconds(fox) <= 5.0  # about 9 words at 175 words a minute, plus a pause
    assert rms(fox) > 1000  # not silence
    assert max(array("h", fox)) < 32767  # not clipped flat


def test_same_input_gives_identical_audio(
    voice: OfflineVoice, joanna: VoiceInfo, fox: bytes
) -> None:
    voice.synthesize("Something else entirely, to disturb the engine.", voice=get_voice("Hans"))
    assert voice.synthesize(FOX, voice=joanna) == fox
    assert voice.synthesize(FOX, voice=joanna) == fox


def test_male_and_female_voices_differ(voice: OfflineVoice, fox: bytes) -> None:
    matthew = voice.synthesize(FOX, voice=get_voice("Matthew"))
    assert matthew != fox
    assert pitch_hz(fox) > 1.4 * pitch_hz(matthew)  # Joanna speaks higher


def test_voices_of_one_language_differ(voice: OfflineVoice, fox: bytes) -> None:
    assert voice.synthesize(FOX, voice=get_voice("Salli")) != fox


def test_german_voice_speaks_german(voice: OfflineVoice) -> None:
    text = "Der schnelle braune Fuchs springt über den faulen Hund."
    hans = get_voice("Hans")
    german = voice.synthesize(text, voice=hans)
    assert 1.5 <= seconds(german) <= 6.0
    assert rms(german) > 1000
    # the same text and voice variant read by English rules comes out differently
    english_reader = next(
        v
        for v in all_voices().values()
        if v.espeak_voice == "en-us" and v.espeak_variant == hans.espeak_variant
    )
    assert voice.synthesize(text, voice=english_reader) != german


def test_every_catalog_voice_speaks(voice: OfflineVoice) -> None:
    seen: dict[str, VoiceInfo] = {}
    for info in all_voices().values():
        seen.setdefault(info.espeak_name, info)
    for info in seen.values():
        pcm = voice.synthesize("Hello, one two three.", voice=info)
        assert seconds(pcm) > 0.5, info
        assert rms(pcm) > 300, info


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\0"])
def test_nothing_to_say_gives_no_audio(voice: OfflineVoice, joanna: VoiceInfo, text: str) -> None:
    assert voice.synthesize(text, voice=joanna) == b""
    assert voice.synthesize(f"<speak>{text}</speak>", voice=joanna, ssml=True) == b""


def test_nul_characters_do_not_cut_the_text(voice: OfflineVoice, joanna: VoiceInfo) -> None:
    whole = voice.synthesize("Hello there world", voice=joanna)
    assert voice.synthesize("Hello\0 there world", voice=joanna) == whole


def test_end_pause(voice: OfflineVoice, joanna: VoiceInfo, fox: bytes) -> None:
    bare = voice.synthesize(FOX, voice=joanna, end_pause=False)
    assert 0.15 <= seconds(fox) - seconds(bare) <= 0.5


def test_speaking_rate(voice: OfflineVoice, joanna: VoiceInfo, fox: bytes) -> None:
    fast = OfflineVoice(rate_wpm=300).synthesize(FOX, voice=joanna)
    assert seconds(fast) < 0.8 * seconds(fox)
    with pytest.raises(ValueError, match="rate_wpm"):
        OfflineVoice(rate_wpm=10)


# --- SSML ----------------------------------------------------------------------------------


def ssml_seconds(voice: OfflineVoice, joanna: VoiceInfo, ssml: str) -> float:
    return seconds(voice.synthesize(ssml, voice=joanna, ssml=True))


def test_speak_tags_are_not_spoken(voice: OfflineVoice, joanna: VoiceInfo) -> None:
    plain = seconds(voice.synthesize("Hi", voice=joanna))
    assert abs(ssml_seconds(voice, joanna, "<speak>Hi</speak>") - plain) < 0.05


def test_a_break_adds_its_pause(voice: OfflineVoice, joanna: VoiceInfo) -> None:
    without = ssml_seconds(voice, joanna, "<speak>Hello world</speak>")
    with_break = ssml_seconds(voice, joanna, '<speak>Hello <break time="500ms"/> world</speak>')
    assert 0.35 <= with_break - without <= 0.8
    longer = ssml_seconds(voice, joanna, '<speak>Hello <break time="2s"/> world</speak>')
    assert longer - with_break > 1.2


def test_polly_only_tags_are_not_read_out(voice: OfflineVoice, joanna: VoiceInfo) -> None:
    plain = ssml_seconds(voice, joanna, "<speak>Hello world</speak>")
    tagged = ssml_seconds(
        voice,
        joanna,
        '<speak><amazon:effect name="whispered">Hello</amazon:effect> '
        '<lang xml:lang="fr-FR">world</lang><mark name="here"/>'
        '<amazon:breath duration="x-long"/></speak>',
    )
    assert abs(tagged - plain) < 0.05


def test_sub_speaks_the_alias(voice: OfflineVoice, joanna: VoiceInfo) -> None:
    alias = ssml_seconds(voice, joanna, "<speak>I like World Wide Web pages</speak>")
    sub = ssml_seconds(
        voice, joanna, '<speak>I like <sub alias="World Wide Web">W3</sub> pages</speak>'
    )
    assert abs(sub - alias) < 0.05


def test_phoneme_keeps_its_text(voice: OfflineVoice, joanna: VoiceInfo) -> None:
    plain = ssml_seconds(voice, joanna, "<speak>tomato</speak>")
    tagged = ssml_seconds(
        voice, joanna, '<speak><phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme></speak>'
    )
    assert abs(tagged - plain) < 0.05


def test_prosody_rate_is_honoured(voice: OfflineVoice, joanna: VoiceInfo) -> None:
    normal = ssml_seconds(voice, joanna, f"<speak>{FOX}</speak>")
    slow = ssml_seconds(voice, joanna, f'<speak><prosody rate="x-slow">{FOX}</prosody></speak>')
    assert slow > 1.3 * normal


def test_escaped_characters_are_spoken_as_text(voice: OfflineVoice, joanna: VoiceInfo) -> None:
    ssml = ssml_seconds(voice, joanna, "<speak>Tom &amp; Jerry</speak>")
    text = seconds(voice.synthesize("Tom & Jerry", voice=joanna))
    assert abs(ssml - text) < 0.05


@pytest.mark.parametrize(
    ("polly", "espeak"),
    [
        ("<speak>Hi</speak>", "<speak>Hi</speak>"),
        ("Hi there", "<speak>Hi there</speak>"),
        ('<speak xml:lang="en-US">Hi</speak>', "<speak>Hi</speak>"),
        ('<speak>a<break time="20s"/>b</speak>', '<speak>a<break time="10000ms"/>b</speak>'),
        ('<speak>a<break time="1.5s"/>b</speak>', '<speak>a<break time="1500ms"/>b</speak>'),
        ("<speak>a<break/>b</speak>", '<speak>a<break strength="medium"/>b</speak>'),
        ('<speak><sub alias="x &amp; y">z</sub></speak>', "<speak>x &amp; y</speak>"),
        ('<speak><amazon:domain name="news">n</amazon:domain></speak>', "<speak>n</speak>"),
        ('<speak><w role="amazon:VB">read</w></speak>', "<speak>read</speak>"),
        (
            '<speak><prosody volume="+6dB" amazon:max-duration="2s">v</prosody></speak>',
            '<speak><prosody volume="200%">v</prosody></speak>',
        ),
        (
            '<speak><say-as interpret-as="spell-out">abc</say-as></speak>',
            '<speak><say-as interpret-as="characters">abc</say-as></speak>',
        ),
        ('<speak><say-as interpret-as="date">1/2</say-as></speak>', "<speak>1/2</speak>"),
        ("<speak><p><s>one</s></p></speak>", "<speak><p><s>one</s></p></speak>"),
        ('<?xml version="1.0"?><!-- note --><speak>x</speak>', "<speak>x</speak>"),
        ("<speak>1 < 2 & 3</speak>", "<speak>1 &lt; 2 &amp; 3</speak>"),
        (
            "<speak><emphasis>unclosed</speak>",
            '<speak><emphasis level="moderate">unclosed</emphasis></speak>',
        ),
    ],
)
def test_polly_ssml_is_rewritten_for_espeak(polly: str, espeak: str) -> None:
    assert to_espeak_ssml(polly) == espeak


# --- the engine ------------------------------------------------------------------------------


def test_threads_share_the_engine_safely(
    voice: OfflineVoice, joanna: VoiceInfo, fox: bytes
) -> None:
    matthew = get_voice("Matthew")
    expected_matthew = voice.synthesize(FOX, voice=matthew)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda v: voice.synthesize(FOX, voice=v), [joanna, matthew] * 6))
    assert results == [fox, expected_matthew] * 6


async def test_runs_in_a_worker_thread(voice: OfflineVoice, joanna: VoiceInfo, fox: bytes) -> None:
    pcm = await asyncio.to_thread(voice.synthesize, FOX, voice=joanna)
    assert pcm == fox


def test_the_shared_voice_is_one_object() -> None:
    assert get_offline_voice() is get_offline_voice()


def test_a_fresh_process_prints_nothing_and_says_the_same(fox: bytes, tmp_path: Path) -> None:
    out = tmp_path / "fox.sha256"
    code = (
        "import hashlib, sys\n"
        "from polly_pipeline.local.voice import get_offline_voice\n"
        "from polly_pipeline.local.voices import get_voice\n"
        "v = get_offline_voice()\n"
        "v.synthesize('Warm up with other words.', voice=get_voice('Hans'))\n"
        f"pcm = v.synthesize({FOX!r}, voice=get_voice('Joanna'))\n"
        "open(sys.argv[1], 'w').write(hashlib.sha256(pcm).hexdigest())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)], capture_output=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")  # loading is quiet
    assert out.read_text() == hashlib.sha256(fox).hexdigest()  # bit-identical across processes


def test_missing_espeakng_loader_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    with pytest.raises(ConfigurationError, match="pip install espeakng-loader"):
        _Engine()
