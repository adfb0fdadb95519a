"""Text layer: the sentence rules of every language Polly's voices speak (pure data).

:func:`language_rules` turns a language code, either an ISO 639-1 code pysbd knows (``"de"``)
or a Polly language code (``"de-DE"``, ``"cmn-CN"``, ``"arb"``), into :class:`LanguageRules`:

- ``pysbd``: the pysbd language asked where a boundary is ambiguous (en, de, fr, es, it, nl,
  da, pl, ru, ar, hi, ja, zh, ...), or ``None`` for a language pysbd lacks (Korean, Turkish,
  Portuguese, Swedish, Norwegian, Finnish, Czech, Romanian, Catalan, Icelandic, Welsh). Those
  use the same rules without pysbd: an ambiguous period (an abbreviation, an initial, a number
  with an ordinal dot) is then never cut, so their text may go out a sentence later but is
  never split inside an abbreviation or a number;
- ``abbreviations``: words that end with a period without ending a sentence (pysbd's list for
  the language plus ours; a short list of our own for the fallback languages);
- ``never_final``: abbreviations that always stand before what they qualify: titles ("Dr.",
  "Sr.", "Dhr.", "Sig.") and words such as "approx.", "inkl.", "vs.". They never end a
  sentence, so they are not cut before a capital either (pysbd cuts "el Sr. | García",
  "inkl. | Steuer");
- ``ordinal_dots``: whether a number before a period can sit inside a sentence: ordinals
  ("am 5. Mai", "5. sınıf") or Korean dates ("2023. 10. 3."), which makes it ambiguous.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache
from typing import Final

from polly_pipeline.errors import ConfigurationError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pysbd 0.3.x compiles regexes with invalid escapes
    from pysbd.languages import LANGUAGE_CODES

__all__ = ["FALLBACK_LANGUAGES", "LanguageRules", "language_rules", "supported_languages"]

#: Primary subtags of Polly language codes that name another pysbd language.
_ALIASES: Final = {"arb": "ar", "cmn": "zh", "yue": "zh"}

#: Abbreviations pysbd's lists lack, per pysbd language (lower case, no final period).
_EXTRA: Final[dict[str, frozenset[str]]] = {
    "en": frozenset(
        {"approx", "ca", "cf", "incl", "excl", "resp", "vol", "figs", "eq", "eqs", "refs"}
        | {"ch", "eds", "hrs", "mins", "yrs", "mos", "pts", "tel", "apt", "misc", "wk", "yr"}
        | {"tbsp", "tsp", "oz", "lb", "lbs", "ft", "no", "nos", "pp", "sq", "min", "max", "dept"}
        | {"mt", "ave", "blvd", "rd", "hwy", "univ", "assn", "bros", "est", "govt", "intl"}
    ),
    "de": frozenset(
        {"str", "hauptstr", "bahnhofstr", "tel", "abs", "bd", "bsp", "jh", "jhd", "nr", "s"}
        | {"ca", "vgl", "zzgl", "inkl", "exkl", "evtl", "allg", "geb", "gest", "hr", "fr"}
    ),
    "fr": frozenset({"m", "mm", "mme", "mlle", "dr", "pr", "st", "ste", "n", "no", "env", "bd"}),
    "es": frozenset({"p", "m", "sres", "sras", "srta", "dra", "prof", "núm", "pág", "aprox"}),
    "it": frozenset({"sig", "sigg", "sig.ra", "dott", "ing", "avv", "prof", "pag", "ecc"}),
    "nl": frozenset({"blz", "dhr", "mevr", "mr", "dr", "ir", "ing", "nr", "bijv", "ca", "enz"}),
}

#: Languages of Polly's voices that pysbd lacks, with the abbreviations we protect.
FALLBACK_LANGUAGES: Final[dict[str, frozenset[str]]] = {
    "pt": frozenset(
        {"sr", "sra", "srta", "dr", "dra", "prof", "profa", "eng", "av", "r", "n", "nº", "pág"}
        | {"p", "ex", "aprox", "tel", "cia", "ltda", "séc", "vol", "etc", "obs", "cap", "art"}
    ),
    "tr": frozenset(
        {"dr", "prof", "doç", "yrd", "sn", "vb", "vs", "örn", "bkz", "cad", "sok", "mah", "no"}
        | {"apt", "tel", "yy", "st", "alb", "av", "kol", "gen", "müh", "öğr", "s"}
    ),
    "ko": frozenset(),
    "sv": frozenset({"t.ex", "bl.a", "s.k", "d.v.s", "dvs", "osv", "m.m", "kl", "nr", "ca", "jfr"}),
    "nb": frozenset({"bl.a", "f.eks", "ca", "nr", "kl", "dvs", "mht", "osv", "tlf", "jf", "evt"}),
    "fi": frozenset({"esim", "mm", "ns", "tms", "jne", "ks", "prof", "tri", "nro", "puh", "klo"}),
    "cs": frozenset(
        {"např", "tj", "tzv", "atd", "apod", "př", "mj", "resp", "str", "č", "ul", "tel", "prof"}
        | {"ing", "mgr", "dr", "doc", "bc", "sv", "tř", "nám"}
    ),
    "ro": frozenset({"dl", "dna", "dr", "prof", "str", "nr", "etc", "ex", "tel", "ing", "bd"}),
    "ca": frozenset({"sr", "sra", "dr", "dra", "núm", "pàg", "etc", "ex", "av", "c", "aprox"}),
    "is": frozenset({"t.d", "o.s.frv", "þ.e", "m.a", "nr", "kl", "sbr", "u.þ.b", "o.fl"}),
    "cy": frozenset({"e.e", "h.y", "sef", "ayb", "etc", "dr", "st"}),
}

#: Titles and other abbreviations that stand before what they qualify, per language.
_NEVER_FINAL: Final[dict[str, frozenset[str]]] = {
    "en": frozenset({"mr", "mrs", "ms", "messrs", "dr", "prof", "rev", "capt", "sgt", "lt"})
    | {"approx", "incl", "excl", "vs", "cf"},
    "de": frozenset({"hr", "hrn", "dr", "prof", "dipl", "mag", "inkl", "exkl", "zzgl", "vgl"}),
    "fr": frozenset({"mm", "mme", "mmes", "mlle", "mlles", "dr", "pr", "me"}),
    "es": frozenset({"sr", "sra", "srta", "sres", "sras", "dr", "dra", "prof", "lic", "dña"}),
    "it": frozenset({"sig", "sigg", "sig.ra", "sig.na", "dott", "dott.ssa", "ing", "avv"}),
    "nl": frozenset({"dhr", "mevr", "mw", "dr", "drs", "ir", "ing", "prof"}),
    "pt": frozenset({"sr", "sra", "srta", "dr", "dra", "prof", "profa", "eng"}),
    "tr": frozenset({"dr", "prof", "doç", "av", "müh"}),
}

#: Languages where a number before a period can sit inside a sentence (ordinals, dates).
_ORDINAL_DOTS: Final = frozenset({"de", "da", "nb", "fi", "is", "tr", "cs", "sk", "pl", "hu", "ko"})


@dataclass(frozen=True)
class LanguageRules:
    """How sentences end in one language; see the module docstring."""

    code: str
    pysbd: str | None
    abbreviations: frozenset[str]
    never_final: frozenset[str]
    ordinal_dots: bool


def supported_languages() -> list[str]:
    """Every base language code the segmenter knows, sorted."""
    return sorted({*LANGUAGE_CODES, *FALLBACK_LANGUAGES})


@cache
def language_rules(code: str) -> LanguageRules:
    """The rules for ``code`` (``"en"``, ``"de-DE"``, ``"cmn-CN"``, ...).

    Raises:
        ConfigurationError: the language is not one the segmenter knows.
    """
    if not isinstance(code, str) or not code:
        raise ConfigurationError(f"language must be a language code such as 'en-US', not {code!r}")
    primary = code.replace("_", "-").split("-", 1)[0].lower()
    base = _ALIASES.get(primary, primary)
    if base in LANGUAGE_CODES:
        listed = getattr(getattr(LANGUAGE_CODES[base], "Abbreviation", None), "ABBREVIATIONS", ())
        abbreviations = frozenset(a.strip().lower() for a in listed) | _EXTRA.get(base, frozenset())
        pysbd: str | None = base
    elif base in FALLBACK_LANGUAGES:
        abbreviations, pysbd = FALLBACK_LANGUAGES[base], None
    else:
        raise ConfigurationError(
            f"language {code!r} is not supported; use a Polly language code such as 'de-DE' or "
            f"one of: {', '.join(supported_languages())}"
        )
    never_final = _NEVER_FINAL.get(base, frozenset())
    return LanguageRules(
        code, pysbd, abbreviations | never_final, never_final, base in _ORDINAL_DOTS
    )
