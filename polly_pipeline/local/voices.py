"""Local service layer: the catalog of Polly voices the local service answers for.

Every id in the installed botocore model's ``VoiceId`` enum gets a :class:`VoiceInfo`, read at
run time so a newer botocore brings its new voices along. Language, gender and engines come from
the table below: best knowledge of the Amazon Polly voice list, not authoritative. Ids the table
does not know yet fall back to US English (female) so the service can still speak them. Each
voice also names the espeak-ng voice and variant the offline voice speaks it with; within a
language, successive voices of one gender get different variants so they sound different.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any, Literal

from polly_pipeline.protocol.params import model_enum

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


# Polly language code -> (Polly language name, espeak-ng language voice). The espeak names are
# file names under espeak-ng-data/lang/ (matched case-insensitively); where espeak-ng has no
# voice for a regional variant, the closest one stands in (British English for the Commonwealth
# Englishes, Latin-American Spanish for Mexico and the US).
_LANGUAGES: Mapping[str, tuple[str, str]] = {
    "arb": ("Arabic", "ar"),
    "ar-AE": ("Gulf Arabic", "ar"),
    "ca-ES": ("Catalan", "ca"),
    "cmn-CN": ("Chinese Mandarin", "cmn"),
    "cs-CZ": ("Czech", "cs"),
    "cy-GB": ("Welsh", "cy"),
    "da-DK": ("Danish", "da"),
    "de-AT": ("Austrian German", "de"),
    "de-CH": ("Swiss Standard German", "de"),
    "de-DE": ("German", "de"),
    "en-AU": ("Australian English", "en"),
    "en-GB": ("British English", "en"),
    "en-GB-WLS": ("Welsh English", "en"),
    "en-IE": ("Irish English", "en"),
    "en-IN": ("Indian English", "en"),
    "en-NZ": ("New Zealand English", "en"),
    "en-SG": ("Singaporean English", "en"),
    "en-US": ("US English", "en-us"),
    "en-ZA": ("South African English", "en"),
    "es-ES": ("Castilian Spanish", "es"),
    "es-MX": ("Mexican Spanish", "es-419"),
    "es-US": ("US Spanish", "es-419"),
    "fi-FI": ("Finnish", "fi"),
    "fr-BE": ("Belgian French", "fr-be"),
    "fr-CA": ("Canadian French", "fr"),
    "fr-FR": ("French", "fr"),
    "hi-IN": ("Hindi", "hi"),
    "is-IS": ("Icelandic", "is"),
    "it-IT": ("Italian", "it"),
    "ja-JP": ("Japanese", "ja"),
    "ko-KR": ("Korean", "ko"),
    "nb-NO": ("Norwegian", "nb"),
    "nl-BE": ("Belgian Dutch", "nl"),
    "nl-NL": ("Dutch", "nl"),
    "pl-PL": ("Polish", "pl"),
    "pt-BR": ("Brazilian Portuguese", "pt-br"),
    "pt-PT": ("Portuguese", "pt"),
    "ro-RO": ("Romanian", "ro"),
    "ru-RU": ("Russian", "ru"),
    "sv-SE": ("Swedish", "sv"),
    "tr-TR": ("Turkish", "tr"),
    "yue-CN": ("Chinese Cantonese", "yue"),
}

# Engine sets, by initials: Standard, Neural, Long-form, Generative.
_ENGINES: Mapping[str, tuple[str, ...]] = {
    "S": ("standard",),
    "N": ("neural",),
    "G": ("generative",),
    "SN": ("standard", "neural"),
    "NG": ("neural", "generative"),
    "SNG": ("standard", "neural", "generative"),
    "NL": ("neural", "long-form"),
    "NLG": ("neural", "long-form", "generative"),
}

# id: (gender F/M, language code, engines, additional language codes). Best knowledge of the
# Amazon Polly voice list (AWS "Available voices" page, 2025), not authoritative. Within a
# language, order decides the espeak variant: the best-known voices come first.
_TABLE: Mapping[str, tuple[str, str, str, tuple[str, ...]]] = {
    # US English
    "Joanna": ("F", "en-US", "SNG", ()),
    "Matthew": ("M", "en-US", "SNG", ()),
    "Ruth": ("F", "en-US", "NLG", ()),
    "Stephen": ("M", "en-US", "NG", ()),
    "Danielle": ("F", "en-US", "NLG", ()),
    "Gregory": ("M", "en-US", "NL", ()),
    "Salli": ("F", "en-US", "SNG", ()),
    "Joey": ("M", "en-US", "SN", ()),
    "Kendra": ("F", "en-US", "SN", ()),
    "Justin": ("M", "en-US", "SN", ()),
    "Kimberly": ("F", "en-US", "SN", ()),
    "Kevin": ("M", "en-US", "N", ()),
    "Ivy": ("F", "en-US", "SN", ()),
    "Tiffany": ("F", "en-US", "NG", ()),
    # British, Welsh, Irish, Australian, New Zealand, South African, Singaporean, Indian English
    "Amy": ("F", "en-GB", "SNG", ()),
    "Brian": ("M", "en-GB", "SNG", ()),
    "Emma": ("F", "en-GB", "SN", ()),
    "Arthur": ("M", "en-GB", "N", ()),
    "Geraint": ("M", "en-GB-WLS", "S", ()),
    "Niamh": ("F", "en-IE", "NG", ()),
    "Olivia": ("F", "en-AU", "NG", ()),
    "Nicole": ("F", "en-AU", "S", ()),
    "Russell": ("M", "en-AU", "S", ()),
    "Aria": ("F", "en-NZ", "NG", ()),
    "Ayanda": ("F", "en-ZA", "NG", ()),
    "Jasmine": ("F", "en-SG", "NG", ()),
    "Kajal": ("F", "en-IN", "NG", ("hi-IN",)),
    "Aditi": ("F", "en-IN", "S", ("hi-IN",)),
    "Raveena": ("F", "en-IN", "S", ()),
    # German
    "Vicki": ("F", "de-DE", "SNG", ()),
    "Daniel": ("M", "de-DE", "NG", ()),
    "Marlene": ("F", "de-DE", "S", ()),
    "Hans": ("M", "de-DE", "S", ()),
    "Lennart": ("M", "de-DE", "NG", ()),
    "Hannah": ("F", "de-AT", "NG", ()),
    "Sabrina": ("F", "de-CH", "NG", ()),
    # French
    "Lea": ("F", "fr-FR", "SNG", ()),
    "Remi": ("M", "fr-FR", "NG", ()),
    "Celine": ("F", "fr-FR", "S", ()),
    "Mathieu": ("M", "fr-FR", "S", ()),
    "Ambre": ("F", "fr-FR", "NG", ()),
    "Florian": ("M", "fr-FR", "NG", ()),
    "Gabrielle": ("F", "fr-CA", "NG", ()),
    "Liam": ("M", "fr-CA", "NG", ()),
    "Chantal": ("F", "fr-CA", "S", ()),
    "Isabelle": ("F", "fr-BE", "NG", ()),
    # Spanish
    "Lucia": ("F", "es-ES", "SNG", ()),
    "Sergio": ("M", "es-ES", "NG", ()),
    "Conchita": ("F", "es-ES", "S", ()),
    "Enrique": ("M", "es-ES", "S", ()),
    "Mia": ("F", "es-MX", "SNG", ()),
    "Andres": ("M", "es-MX", "NG", ()),
    "Lupe": ("F", "es-US", "SNG", ()),
    "Pedro": ("M", "es-US", "NG", ()),
    "Penelope": ("F", "es-US", "S", ()),
    "Miguel": ("M", "es-US", "S", ()),
    # Italian
    "Bianca": ("F", "it-IT", "SNG", ()),
    "Adriano": ("M", "it-IT", "NG", ()),
    "Carla": ("F", "it-IT", "S", ()),
    "Giorgio": ("M", "it-IT", "S", ()),
    "Beatrice": ("F", "it-IT", "NG", ()),
    "Lorenzo": ("M", "it-IT", "NG", ()),
    # Portuguese
    "Camila": ("F", "pt-BR", "SN", ()),
    "Thiago": ("M", "pt-BR", "N", ()),
    "Vitoria": ("F", "pt-BR", "SN", ()),
    "Ricardo": ("M", "pt-BR", "S", ()),
    "Ines": ("F", "pt-PT", "SN", ()),
    "Cristiano": ("M", "pt-PT", "S", ()),
    # Dutch
    "Laura": ("F", "nl-NL", "NG", ()),
    "Ruben": ("M", "nl-NL", "S", ()),
    "Lotte": ("F", "nl-NL", "S", ()),
    "Lisa": ("F", "nl-BE", "NG", ()),
    # Nordic
    "Sofie": ("F", "da-DK", "N", ()),
    "Mads": ("M", "da-DK", "S", ()),
    "Naja": ("F", "da-DK", "S", ()),
    "Elin": ("F", "sv-SE", "N", ()),
    "Astrid": ("F", "sv-SE", "S", ()),
    "Ida": ("F", "nb-NO", "N", ()),
    "Liv": ("F", "nb-NO", "S", ()),
    "Dora": ("F", "is-IS", "S", ()),
    "Karl": ("M", "is-IS", "S", ()),
    "Suvi": ("F", "fi-FI", "N", ()),
    # Central and Eastern Europe, Turkey, Wales
    "Ola": ("F", "pl-PL", "N", ()),
    "Jacek": ("M", "pl-PL", "S", ()),
    "Ewa": ("F", "pl-PL", "S", ()),
    "Jan": ("M", "pl-PL", "S", ()),
    "Maja": ("F", "pl-PL", "S", ()),
    "Jitka": ("F", "cs-CZ", "N", ()),
    "Carmen": ("F", "ro-RO", "S", ()),
    "Tatyana": ("F", "ru-RU", "S", ()),
    "Maxim": ("M", "ru-RU", "S", ()),
    "Burcu": ("F", "tr-TR", "NG", ()),
    "Filiz": ("F", "tr-TR", "S", ()),
    "Gwyneth": ("F", "cy-GB", "S", ()),
    # Asia and the Middle East
    "Kazuha": ("F", "ja-JP", "NG", ()),
    "Takumi": ("M", "ja-JP", "SN", ()),
    "Tomoko": ("F", "ja-JP", "N", ()),
    "Mizuki": ("F", "ja-JP", "S", ()),
    "Jihye": ("F", "ko-KR", "NG", ()),
    "Seoyeon": ("F", "ko-KR", "SN", ()),
    "Zhiyu": ("F", "cmn-CN", "SN", ()),
    "Hiujin": ("F", "yue-CN", "N", ()),
    "Zeina": ("F", "arb", "S", ()),
    "Hala": ("F", "ar-AE", "N", ()),
    "Zayd": ("M", "ar-AE", "N", ()),
    "Arlet": ("F", "ca-ES", "N", ()),
    # Voices added to the model in 2025-2026 whose details were not published when this table
    # was written: gender from the name, language a guess from the name, engines assumed
    # generative (they arrived with the generative voices).
    "Arjun": ("M", "en-IN", "NG", ("hi-IN",)),
    "Hyunduk": ("M", "ko-KR", "NG", ()),
    "Curtis": ("M", "en-US", "NG", ()),
    "Kenneth": ("M", "en-US", "NG", ()),
    "Nate": ("M", "en-US", "NG", ()),
    "Leo": ("M", "en-US", "NG", ()),
    "Tina": ("F", "en-US", "NG", ()),
    "Kiara": ("F", "en-US", "NG", ()),
    "Carlos": ("M", "es-US", "NG", ()),
    "Carolina": ("F", "es-US", "NG", ()),
}

# Ids whose display name carries diacritics (DescribeVoices' ``Name``).
_DISPLAY_NAMES: Mapping[str, str] = {
    "Andres": "Andrés",
    "Celine": "Céline",
    "Dora": "Dóra",
    "Ines": "Inês",
    "Lea": "Léa",
    "Penelope": "Penélope",
    "Remi": "Rémi",
    "Vitoria": "Vitória",
}

# Unknown ids (a botocore newer than this table) speak US English with a female voice.
_FALLBACK: tuple[str, str, str, tuple[str, ...]] = ("F", "en-US", "NG", ())


@cache
def all_voices() -> Mapping[str, VoiceInfo]:
    """Every voice id of the installed botocore Polly model, by id (computed once)."""
    ids = model_enum("VoiceId")
    known = [voice_id for voice_id in _TABLE if voice_id in ids]
    ordered = known + [voice_id for voice_id in ids if voice_id not in _TABLE]
    handed_out: dict[tuple[str, str], int] = {}
    voices: dict[str, VoiceInfo] = {}
    for voice_id in ordered:
        gender_initial, language_code, engines, additional = _TABLE.get(voice_id, _FALLBACK)
        language_name, espeak_voice = _LANGUAGES[language_code]
        gender: Gender = "Female" if gender_initial == "F" else "Male"
        variants = FEMALE_VARIANTS if gender == "Female" else MALE_VARIANTS
        turn = handed_out.get((espeak_voice, gender), 0)
        handed_out[(espeak_voice, gender)] = turn + 1
        voices[voice_id] = VoiceInfo(
            id=voice_id,
            name=_DISPLAY_NAMES.get(voice_id, voice_id),
            gender=gender,
            language_code=language_code,
            language_name=language_name,
            additional_language_codes=additional,
            supported_engines=_ENGINES[engines],
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
