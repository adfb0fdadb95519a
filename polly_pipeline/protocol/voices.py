"""Protocol layer: what is known of Amazon Polly's voices (pure data).

Language, gender and engines per voice id: best knowledge of the Amazon Polly voice list (AWS
"Available voices" page, 2025), not authoritative; DescribeVoices is the authority where the
service is reachable. The local service speaks from this table, and the text layer takes a
voice's language from it (:func:`voice_language`) when the caller names none.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "DISPLAY_NAMES",
    "ENGINE_SETS",
    "FALLBACK_VOICE",
    "LANGUAGE_NAMES",
    "VOICE_TABLE",
    "voice_language",
]

#: Polly language code -> Polly's language name.
LANGUAGE_NAMES: Mapping[str, str] = {
    "arb": "Arabic",
    "ar-AE": "Gulf Arabic",
    "ca-ES": "Catalan",
    "cmn-CN": "Chinese Mandarin",
    "cs-CZ": "Czech",
    "cy-GB": "Welsh",
    "da-DK": "Danish",
    "de-AT": "Austrian German",
    "de-CH": "Swiss Standard German",
    "de-DE": "German",
    "en-AU": "Australian English",
    "en-GB": "British English",
    "en-GB-WLS": "Welsh English",
    "en-IE": "Irish English",
    "en-IN": "Indian English",
    "en-NZ": "New Zealand English",
    "en-SG": "Singaporean English",
    "en-US": "US English",
    "en-ZA": "South African English",
    "es-ES": "Castilian Spanish",
    "es-MX": "Mexican Spanish",
    "es-US": "US Spanish",
    "fi-FI": "Finnish",
    "fr-BE": "Belgian French",
    "fr-CA": "Canadian French",
    "fr-FR": "French",
    "hi-IN": "Hindi",
    "is-IS": "Icelandic",
    "it-IT": "Italian",
    "ja-JP": "Japanese",
    "ko-KR": "Korean",
    "nb-NO": "Norwegian",
    "nl-BE": "Belgian Dutch",
    "nl-NL": "Dutch",
    "pl-PL": "Polish",
    "pt-BR": "Brazilian Portuguese",
    "pt-PT": "Portuguese",
    "ro-RO": "Romanian",
    "ru-RU": "Russian",
    "sv-SE": "Swedish",
    "tr-TR": "Turkish",
    "yue-CN": "Chinese Cantonese",
}


# Engine sets, by initials: Standard, Neural, Long-form, Generative.
ENGINE_SETS: Mapping[str, tuple[str, ...]] = {
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
VOICE_TABLE: Mapping[str, tuple[str, str, str, tuple[str, ...]]] = {
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
DISPLAY_NAMES: Mapping[str, str] = {
    "Andres": "Andrés",
    "Celine": "Céline",
    "Dora": "Dóra",
    "Ines": "Inês",
    "Lea": "Léa",
    "Penelope": "Penélope",
    "Remi": "Rémi",
    "Vitoria": "Vitória",
}

#: Unknown ids (a botocore newer than this table) speak US English with a female voice.
FALLBACK_VOICE: tuple[str, str, str, tuple[str, ...]] = ("F", "en-US", "NG", ())


def voice_language(voice_id: str) -> str | None:
    """The Polly language code of a voice (``"de-DE"`` for Vicki), or None if unknown."""
    entry = VOICE_TABLE.get(voice_id)
    return entry[1] if entry is not None else None
