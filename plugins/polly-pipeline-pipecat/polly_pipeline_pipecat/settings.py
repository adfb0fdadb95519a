"""Pipecat plugin: the service's runtime-updatable settings and Pipecat languages as Polly codes."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipecat.services.settings import TTSSettings
from pipecat.transcriptions.language import Language
from pipecat.utils.types import NOT_GIVEN, NotGiven
from polly_pipeline.protocol import LANGUAGE_NAMES

__all__ = ["PollyStreamingTTSSettings", "polly_language"]

#: Base languages whose Polly code is neither ``xx-XX`` nor the only ``xx-`` code Polly has.
_BASE_DEFAULTS = {"en": "en-US", "zh": "cmn-CN", "ar": "arb", "no": "nb-NO", "nb": "nb-NO"}


def polly_language(language: Language | str) -> str | None:
    """The Polly language code for a Pipecat language (``Language.DE`` -> ``de-DE``).

    A full code Polly knows is kept (``en-GB``); a base language maps to its main Polly
    code (``en`` -> ``en-US``, ``zh`` -> ``cmn-CN``). None when Polly has no voice for it.
    """
    code = str(language.value if isinstance(language, Language) else language)
    if code in LANGUAGE_NAMES:
        return code
    base = code.split("-", maxsplit=1)[0].lower()
    if base in _BASE_DEFAULTS:
        return _BASE_DEFAULTS[base]
    if f"{base}-{base.upper()}" in LANGUAGE_NAMES:
        return f"{base}-{base.upper()}"
    matches = [name for name in LANGUAGE_NAMES if name.split("-")[0] == base]
    return matches[0] if len(matches) == 1 else None


@dataclass
class PollyStreamingTTSSettings(TTSSettings):
    """Settings of :class:`~polly_pipeline_pipecat.PollyStreamingTTSService`.

    ``voice`` and ``language`` are Pipecat's (``language`` None: the voice's own language).
    A change of voice, language, engine or lexicons applies from the next text on: the turn
    speaking goes on in its voice, and the next text starts a new turn on a fresh session
    (opened, warm, as soon as the change arrives).

    Parameters:
        engine: the Polly engine (the bidirectional stream serves ``generative`` voices).
        lexicon_names: pronunciation lexicons to apply (at most 5).
    """

    engine: str | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    lexicon_names: list[str] | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
