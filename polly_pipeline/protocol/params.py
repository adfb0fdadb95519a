"""Protocol layer: synthesis parameters, validated against botocore's Polly service model.

One validator serves both sides of the wire: the client raises
:class:`~polly_pipeline.errors.ParameterValidationError` before any network call, and the local
service answers the same problems as a ``ValidationException`` at the HTTP level. Enumerations
(engines, voices, formats, language codes) are read from the installed botocore model at run time,
never copied, so a newer botocore brings new voices without a release of this package.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from polly_pipeline.audio.formats import SAMPLE_RATES, OutputFormat
from polly_pipeline.errors import FieldProblem, ParameterValidationError
from polly_pipeline.protocol.voices import voice_language

__all__ = [
    "MAX_EVENT_TEXT_CHARS",
    "MAX_LEXICONS",
    "SAMPLE_RATES",
    "STREAMING_ENGINES",
    "STREAMING_FORMATS",
    "OutputFormat",
    "SynthesisParams",
    "model_enum",
    "text_event_problems",
]

#: A TextEvent holds at most this many characters.
MAX_EVENT_TEXT_CHARS = 6000
#: At most this many lexicon names per request.
MAX_LEXICONS = 5
_LEXICON_NAME = re.compile(r"[0-9A-Za-z]{1,20}")

#: Engines the bidirectional stream accepts (the model's enum lists more).
STREAMING_ENGINES: tuple[str, ...] = ("generative",)

#: Output formats the bidirectional stream produces (the model's enum also lists ``json``).
STREAMING_FORMATS: tuple[str, ...] = tuple(SAMPLE_RATES)

_HEADER = {
    "engine": "x-amzn-Engine",
    "voice_id": "x-amzn-VoiceId",
    "output_format": "x-amzn-OutputFormat",
    "language_code": "x-amzn-LanguageCode",
    "sample_rate": "x-amzn-SampleRate",
    "lexicon_names": "x-amzn-LexiconNames",
}
#: Wire (model member) names, used in error messages from either side.
_MEMBER = {
    "engine": "Engine",
    "voice_id": "VoiceId",
    "output_format": "OutputFormat",
    "language_code": "LanguageCode",
    "sample_rate": "SampleRate",
    "lexicon_names": "LexiconNames",
}


@cache
def model_enum(shape: str) -> tuple[str, ...]:
    """The enum of a shape in botocore's Polly model (e.g. ``"VoiceId"``)."""
    import botocore.session  # noqa: PLC0415  (loading the model is slow; only when asked)

    model = botocore.session.get_session().get_service_model("polly")
    return tuple(model.shape_for(shape).enum)


def _suggest(value: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=3, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == value.lower()]
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


@dataclass(frozen=True)
class SynthesisParams:
    """The synthesis parameters of one stream, as sent in the request headers.

    Build with :meth:`create` (validates, raising one error that names every bad field) or
    :meth:`from_headers` (the service side). ``sample_rate`` is a string as on the wire.
    """

    voice_id: str
    engine: str = "generative"
    output_format: str = "mp3"
    language_code: str | None = None
    sample_rate: str | None = None
    lexicon_names: tuple[str, ...] = ()

    @classmethod
    def create(
        cls,
        *,
        voice_id: str,
        engine: str = "generative",
        output_format: str = "mp3",
        language_code: str | None = None,
        sample_rate: str | int | None = None,
        lexicon_names: Sequence[str] | None = None,
    ) -> SynthesisParams:
        """Validate and build; raises ParameterValidationError naming every bad field."""
        # callers are not always type-checked (notebooks, CLI glue): check the types too
        problems: list[FieldProblem] = []
        given: tuple[tuple[str, object], ...] = (
            ("voice_id", voice_id),
            ("engine", engine),
            ("output_format", output_format),
        )
        for name, value in given:
            if not isinstance(value, str):
                problems.append(FieldProblem(name, f"must be a string, got {type(value).__name__}"))
        language: object = language_code
        if language is not None and not isinstance(language, str):
            problems.append(FieldProblem("language_code", "must be a string or None"))
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, str | int | None):
            problems.append(FieldProblem("sample_rate", "must be an int, a string or None"))
        if isinstance(lexicon_names, str):
            problems.append(
                FieldProblem("lexicon_names", "must be a sequence of names, not one string")
            )
        if problems:
            raise ParameterValidationError(problems)
        params = cls(
            voice_id=voice_id,
            engine=engine,
            output_format=output_format,
            language_code=language_code,
            sample_rate=None if sample_rate is None else str(sample_rate),
            lexicon_names=tuple(lexicon_names or ()),
        )
        problems = params.problems()
        if problems:
            raise ParameterValidationError(problems)
        return params

    def problems(self) -> list[FieldProblem]:
        """Everything wrong with these parameters (empty when valid), in python names."""
        out: list[FieldProblem] = []
        engines = model_enum("Engine")
        if self.engine not in engines:
            out.append(
                FieldProblem(
                    "engine",
                    f"{self.engine!r} is not a Polly engine{_suggest(self.engine, engines)}",
                )
            )
        elif self.engine not in STREAMING_ENGINES:
            out.append(
                FieldProblem(
                    "engine",
                    f"{self.engine!r} is not supported by StartSpeechSynthesisStream; "
                    f"use {' or '.join(repr(e) for e in STREAMING_ENGINES)}",
                )
            )
        voices = model_enum("VoiceId")
        if self.voice_id not in voices:
            out.append(
                FieldProblem(
                    "voice_id",
                    f"{self.voice_id!r} is not a Polly voice{_suggest(self.voice_id, voices)}; "
                    "list them with `polly-pipeline voices`",
                )
            )
        format_ok = self.output_format in SAMPLE_RATES
        if not format_ok:
            why = (
                "speech marks ('json') are not available on the bidirectional stream"
                if self.output_format == "json"
                else f"{self.output_format!r} is not an output format"
                + _suggest(self.output_format, STREAMING_FORMATS)
            )
            out.append(
                FieldProblem("output_format", f"{why}; use one of {', '.join(STREAMING_FORMATS)}")
            )
        if self.language_code is not None:
            codes = model_enum("LanguageCode")
            if self.language_code not in codes:
                out.append(
                    FieldProblem(
                        "language_code",
                        f"{self.language_code!r} is not a Polly language code"
                        f"{_suggest(self.language_code, codes)}",
                    )
                )
        if self.sample_rate is not None and format_ok:
            allowed, _ = SAMPLE_RATES[self.output_format]
            if not self.sample_rate.isdigit() or int(self.sample_rate) not in allowed:
                out.append(
                    FieldProblem(
                        "sample_rate",
                        f"{self.sample_rate!r} Hz is not available for {self.output_format}; "
                        f"use one of {', '.join(map(str, allowed))}",
                    )
                )
        if len(self.lexicon_names) > MAX_LEXICONS:
            out.append(
                FieldProblem(
                    "lexicon_names",
                    f"{len(self.lexicon_names)} lexicons given; at most {MAX_LEXICONS} allowed",
                )
            )
        for name in self.lexicon_names:
            if not isinstance(name, str) or not _LEXICON_NAME.fullmatch(name):
                out.append(
                    FieldProblem(
                        "lexicon_names",
                        f"{name!r} is not a lexicon name (1 to 20 letters or digits)",
                    )
                )
        return out

    @property
    def effective_sample_rate(self) -> int:
        """The sample rate the audio will have (the format's default when unset)."""
        if self.sample_rate is not None:
            return int(self.sample_rate)
        return SAMPLE_RATES[self.output_format][1]

    @property
    def language(self) -> str | None:
        """The language spoken: ``language_code`` if set, else the voice's own (None for a
        voice this package does not know)."""
        return self.language_code or voice_language(self.voice_id)

    def to_headers(self) -> list[tuple[str, str]]:
        """The request headers; optional ones only when set."""
        headers = [
            (_HEADER["engine"], self.engine),
            (_HEADER["voice_id"], self.voice_id),
            (_HEADER["output_format"], self.output_format),
        ]
        if self.language_code is not None:
            headers.append((_HEADER["language_code"], self.language_code))
        if self.sample_rate is not None:
            headers.append((_HEADER["sample_rate"], self.sample_rate))
        if self.lexicon_names:
            headers.append((_HEADER["lexicon_names"], ",".join(self.lexicon_names)))
        return headers

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str]
    ) -> tuple[SynthesisParams | None, list[FieldProblem]]:
        """Parse request headers (lower-cased names) the way the service does.

        Returns the parameters (None when a required header is missing) and every problem,
        named with the model's member names (``VoiceId``, ``SampleRate``...).
        """
        missing = [
            FieldProblem(_MEMBER[key], f"the {_HEADER[key]} header is required")
            for key in ("engine", "voice_id", "output_format")
            if not headers.get(_HEADER[key].lower())
        ]
        if missing:
            return None, missing
        lexicons = headers.get(_HEADER["lexicon_names"].lower())
        params = cls(
            voice_id=headers[_HEADER["voice_id"].lower()],
            engine=headers[_HEADER["engine"].lower()],
            output_format=headers[_HEADER["output_format"].lower()],
            language_code=headers.get(_HEADER["language_code"].lower()),
            sample_rate=headers.get(_HEADER["sample_rate"].lower()),
            lexicon_names=tuple(n.strip() for n in lexicons.split(",")) if lexicons else (),
        )
        problems = [FieldProblem(_MEMBER.get(p.name, p.name), p.message) for p in params.problems()]
        return params, problems


def text_event_problems(text: object, text_type: object) -> list[FieldProblem]:
    """What is wrong with one TextEvent's text (type, length, text type); empty when fine."""
    out: list[FieldProblem] = []
    if not isinstance(text, str):
        out.append(FieldProblem("text", f"must be a string, got {type(text).__name__}"))
    elif len(text) > MAX_EVENT_TEXT_CHARS:
        out.append(
            FieldProblem(
                "text",
                f"{len(text)} characters in one TextEvent; at most {MAX_EVENT_TEXT_CHARS} "
                "are allowed (split the text into several events)",
            )
        )
    if text_type not in ("text", "ssml"):
        out.append(FieldProblem("text_type", f"{text_type!r} is not 'text' or 'ssml'"))
    return out
