"""Local service layer: the catalog of Polly voices the local service answers for.

Every id in the installed botocore model's ``VoiceId`` enum gets a :class:`VoiceInfo`, read at
run time so a newer botocore brings its new voices along. Language, gender and engines come from
:mod:`polly_pipeline.protocol.voices`: best knowledge of the Amazon Polly voice list, not
authoritative. Ids the table does not know yet fall back to US English (female) so the service
can still speak them. Each voice also names the espeak-ng voice and variant the offline voice
speaks it with; within a language, successive voices of one gender get different variants so
they sound different.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any, Literal

from polly_pipeline.protocol.params import model_enum
from polly_pipeline.protocol.voices import (
    DISPLAY_NAMES,
    ENGINE_SETS,
    FALLBACK_VOICE,
    LANGUAGE_NAMES,
    VOICE_TABLE,
)

__all__ = [
    "FEMALE_VARIANTS",
    "MALE_VARIANTS",
    "Gender",
    "VoiceInfo",
    "all_voices",
    "describe_voices_payload",
    "get_voice",
]

Gender = Literal["Female", "Male"]

#: espeak-ng variants (``espeak-ng-data/voices/!v``) handed out in turn within a language.
FEMALE_VARIANTS: tuple[str, ...] = ("f3", "f4", "f1", "f2", "f5")
MALE_VARIANTS: tuple[str, ...] = ("m3", "m1", "m4", "m2", "m6")


@dataclass(frozen=True)
class VoiceInfo:
    """One Polly voice: what DescribeVoices says about it, and how the offline voice speaks it."""

    id: str
    name: str
    gender: Gender
    language_code: str
    language_name: str
    additional_language_codes: tuple[str, ...]
    supported_engines: tuple[str, ...]
    espeak_voice: str
    espeak_variant: str

    @property
    def espeak_name(self) -> str:
        """The name espeak-ng selects this voice by, e.g. ``"en-us+f3"``."""
        return f"{self.espeak_voice}+{self.espeak_variant}"

    def to_payload(self) -> dict[str, Any]:
        """This voice as an entry of DescribeVoices' ``Voices`` list."""
        out: dict[str, Any] = {
            "Gender": self.gender,
            "Id": self.id,
            "LanguageCode": self.language_code,
            "LanguageName": self.language_name,
            "Name": self.name,
            "SupportedEngines": list(self.supported_engines),
        }
        if self.additional_language_codes:
            out["AdditionalLanguageCodes"] = list(self.additional_language_codes)
        return out


# Polly language code -> the espeak-ng language voice that speaks it. The names are file names
# under espeak-ng-data/lang/ (matched case-insensitively); where espeak-ng has no voice for a
# regional variant, the closest one stands in (British English for the Commonwealth Englishes,
# Latin-American Spanish for Mexico and the US).
_ESPEAK: Mapping[str, str] = {
    "arb": "ar",
    "ar-AE": "ar",
    "ca-ES": "ca",
    "cmn-CN": "cmn",
    "cs-CZ": "cs",
    "cy-GB": "cy",
    "da-DK": "da",
    "de-AT": "de",
    "de-CH": "de",
    "de-DE": "de",
    "en-AU": "en",
    "en-GB": "en",
    "en-GB-WLS": "en",
    "en-IE": "en",
    "en-IN": "en",
    "en-NZ": "en",
    "en-SG": "en",
    "en-US": "en-us",
    "en-ZA": "en",
    "es-ES": "es",
    "es-MX": "es-419",
    "es-US": "es-419",
    "fi-FI": "fi",
    "fr-BE": "fr-be",
    "fr-CA": "fr",
    "fr-FR": "fr",
    "hi-IN": "hi",
    "is-IS": "is",
    "it-IT": "it",
    "ja-JP": "ja",
    "ko-KR": "ko",
    "nb-NO": "nb",
    "nl-BE": "nl",
    "nl-NL": "nl",
    "pl-PL": "pl",
    "pt-BR": "pt-br",
    "pt-PT": "pt",
    "ro-RO": "ro",
    "ru-RU": "ru",
    "sv-SE": "sv",
    "tr-TR": "tr",
    "yue-CN": "yue",
}


@cache
def all_voices() -> Mapping[str, VoiceInfo]:
    """Every voice id of the installed botocore Polly model, by id (computed once)."""
    ids = model_enum("VoiceId")
    known = [voice_id for voice_id in VOICE_TABLE if voice_id in ids]
    ordered = known + [voice_id for voice_id in ids if voice_id not in VOICE_TABLE]
    handed_out: dict[tuple[str, str], int] = {}
    voices: dict[str, VoiceInfo] = {}
    for voice_id in ordered:
        gender_initial, language_code, engines, additional = VOICE_TABLE.get(
            voice_id, FALLBACK_VOICE
        )
        language_name, espeak_voice = LANGUAGE_NAMES[language_code], _ESPEAK[language_code]
        gender: Gender = "Female" if gender_initial == "F" else "Male"
        variants = FEMALE_VARIANTS if gender == "Female" else MALE_VARIANTS
        turn = handed_out.get((espeak_voice, gender), 0)
        handed_out[(espeak_voice, gender)] = turn + 1
        voices[voice_id] = VoiceInfo(
            id=voice_id,
            name=DISPLAY_NAMES.get(voice_id, voice_id),
            gender=gender,
            language_code=language_code,
            language_name=language_name,
            additional_language_codes=additional,
            supported_engines=ENGINE_SETS[engines],
            espeak_voice=espeak_voice,
            espeak_variant=variants[turn % len(variants)],
        )
    return MappingProxyType({voice_id: voices[voice_id] for voice_id in ids})


def get_voice(voice_id: str) -> VoiceInfo:
    """The voice with this id; a KeyError names the closest ids when there is none."""
    voices = all_voices()
    try:
        return voices[voice_id]
    except KeyError:
        close = difflib.get_close_matches(voice_id, list(voices), n=3, cutoff=0.6)
        close += [v for v in voices if v.lower() == voice_id.lower() and v not in close]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown Polly voice id {voice_id!r}{hint}") from None


def describe_voices_payload(
    *,
    engine: str | None = None,
    language_code: str | None = None,
    include_additional_language_codes: bool = False,
) -> dict[str, Any]:
    """The JSON body of DescribeVoices, filtered as the service filters.

    ``engine`` keeps voices that support it; ``language_code`` keeps voices of that language
    and, with ``include_additional_language_codes``, bilingual voices that also speak it. Values
    outside the model's enums match no voice; validating them is the caller's job.
    """
    voices = []
    for voice in sorted(all_voices().values(), key=lambda v: (v.language_code, v.id)):
        if engine is not None and engine not in voice.supported_engines:
            continue
        if language_code is not None and language_code != voice.language_code:
            extra = include_additional_language_codes and (
                language_code in voice.additional_language_codes
            )
            if not extra:
                continue
        voices.append(voice.to_payload())
    return {"Voices": voices}
