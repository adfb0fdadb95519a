"""The voice catalog: every Polly voice id, with plausible facts and a real espeak-ng voice."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import botocore.session
import espeakng_loader
import pytest

from polly_pipeline.local.voices import (
    FEMALE_VARIANTS,
    MALE_VARIANTS,
    all_voices,
    describe_voices_payload,
    get_voice,
)

MODEL = botocore.session.get_session().get_service_model("polly")
DATA = Path(espeakng_loader.get_data_path())


def test_every_voice_id_of_the_model_is_in_the_catalog() -> None:
    assert list(all_voices()) == list(MODEL.shape_for("VoiceId").enum)


@pytest.mark.parametrize(
    ("voice_id", "gender", "language_code", "espeak_voice"),
    [
        ("Joanna", "Female", "en-US", "en-us"),
        ("Matthew", "Male", "en-US", "en-us"),
        ("Amy", "Female", "en-GB", "en"),
        ("Brian", "Male", "en-GB", "en"),
        ("Hans", "Male", "de-DE", "de"),
        ("Lea", "Female", "fr-FR", "fr"),
        ("Lucia", "Female", "es-ES", "es"),
        ("Mia", "Female", "es-MX", "es-419"),
        ("Camila", "Female", "pt-BR", "pt-br"),
        ("Takumi", "Male", "ja-JP", "ja"),
        ("Zhiyu", "Female", "cmn-CN", "cmn"),
        ("Zeina", "Female", "arb", "ar"),
    ],
)
def test_well_known_voices(
    voice_id: str, gender: str, language_code: str, espeak_voice: str
) -> None:
    voice = get_voice(voice_id)
    assert (voice.gender, voice.language_code, voice.espeak_voice) == (
        gender,
        language_code,
        espeak_voice,
    )
    assert voice.espeak_variant[0] == gender[0].lower()


def test_display_names_keep_their_accents() -> None:
    assert get_voice("Lea").name == "Léa"
    assert get_voice("Joanna").name == "Joanna"


def test_facts_use_the_models_vocabulary() -> None:
    languages = set(MODEL.shape_for("LanguageCode").enum)
    engines = set(MODEL.shape_for("Engine").enum)
    for voice in all_voices().values():
        assert voice.language_code in languages, voice
        assert set(voice.additional_language_codes) <= languages, voice
        assert voice.supported_engines, voice
        assert set(voice.supported_engines) <= engines, voice
        assert voice.gender in MODEL.shape_for("Gender").enum
        assert voice.language_name


def test_the_big_generative_voices_can_stream() -> None:
    generative = {v.id for v in all_voices().values() if "generative" in v.supported_engines}
    assert {"Joanna", "Matthew", "Ruth", "Stephen", "Amy", "Lea", "Vicki", "Lucia"} <= generative
    assert len({get_voice(v).language_code for v in generative}) >= 15


def _espeak_language_files() -> set[str]:
    return {path.name.lower() for path in (DATA / "lang").rglob("*") if path.is_file()}


def test_every_espeak_name_exists_in_the_bundled_data() -> None:
    languages = _espeak_language_files()
    variants = {path.name for path in (DATA / "voices" / "!v").iterdir()}
    for voice in all_voices().values():
        assert voice.espeak_voice.lower() in languages, voice
        assert voice.espeak_variant in variants, voice
        assert voice.espeak_name == f"{voice.espeak_voice}+{voice.espeak_variant}"


def test_voices_sharing_a_language_sound_different() -> None:
    by_language: dict[tuple[str, str], list[str]] = defaultdict(list)
    for voice in all_voices().values():
        by_language[(voice.espeak_voice, voice.gender)].append(voice.espeak_variant)
    for (language, gender), variants in by_language.items():
        pool = FEMALE_VARIANTS if gender == "Female" else MALE_VARIANTS
        assert len(set(variants)) == min(len(variants), len(pool)), (language, gender)
    assert get_voice("Joanna").espeak_variant != get_voice("Salli").espeak_variant


def test_unknown_id_suggests_the_closest() -> None:
    with pytest.raises(KeyError, match="Joanna"):
        get_voice("Joana")
    with pytest.raises(KeyError, match="Matthew"):
        get_voice("matthew")
    with pytest.raises(KeyError, match="unknown Polly voice id 'Nobody'"):
        get_voice("Nobody")


def test_describe_voices_lists_every_voice_in_the_models_shape() -> None:
    payload = describe_voices_payload()
    json.dumps(payload)  # a JSON body
    members = set(MODEL.shape_for("Voice").members)
    assert {v["Id"] for v in payload["Voices"]} == set(all_voices())
    for entry in payload["Voices"]:
        assert set(entry) <= members
        assert {"Gender", "Id", "LanguageCode", "LanguageName", "Name", "SupportedEngines"} <= set(
            entry
        )
        assert ("AdditionalLanguageCodes" in entry) == bool(
            get_voice(entry["Id"]).additional_language_codes
        )


def test_describe_voices_filters_like_the_service() -> None:
    generative = describe_voices_payload(engine="generative")["Voices"]
    assert generative
    assert all("generative" in v["SupportedEngines"] for v in generative)
    assert len(generative) < len(all_voices())

    british = describe_voices_payload(language_code="en-GB")["Voices"]
    assert {v["Id"] for v in british} >= {"Amy", "Brian", "Emma", "Arthur"}
    assert all(v["LanguageCode"] == "en-GB" for v in british)

    both = describe_voices_payload(engine="standard", language_code="en-GB")["Voices"]
    assert {v["Id"] for v in both} == {
        v["Id"] for v in british if "standard" in v["SupportedEngines"]
    }


def test_bilingual_voices_only_with_additional_language_codes() -> None:
    assert describe_voices_payload(language_code="hi-IN")["Voices"] == []
    bilingual = describe_voices_payload(
        language_code="hi-IN", include_additional_language_codes=True
    )["Voices"]
    assert {"Aditi", "Kajal"} <= {v["Id"] for v in bilingual}
    assert all("hi-IN" in v["AdditionalLanguageCodes"] for v in bilingual)


def test_values_outside_the_model_match_nothing() -> None:
    assert describe_voices_payload(engine="quantum")["Voices"] == []
    assert describe_voices_payload(language_code="xx-XX")["Voices"] == []
