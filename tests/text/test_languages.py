"""Sentence boundaries per language: hand-marked corpora, fed whole and in any chunking.

Each corpus is written from the language, not from the segmenter's output. Markup:

- ``|`` a sentence boundary the segmenter must cut at (after the whitespace that follows);
- ``¦`` a boundary the language leaves ambiguous: a cut is allowed, not required (the
  fallback languages, which pysbd lacks, never cut where a period is ambiguous);
- ``⟦ ⟧`` a span no cut may fall inside: abbreviations, numbers, dates, URLs, e-mail
  addresses, quotes and brackets (spans may nest).

The first boundary of every corpus is unambiguous, so the first segment must be released by
the character that settles it: the first character after the whitespace, or the newline or
CJK sentence mark itself.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polly_pipeline.text import (
    MarkdownCleaner,
    Segment,
    Segmenter,
    SegmenterOptions,
    clean_markdown,
)

#: Cut at every sentence end: the strictest setting for "never cut inside X".
EAGER_OPTIONS = {"min_chars": 0, "first_fragment": False}

#: CJK sentence marks, settled the moment they arrive (no whitespace follows them).
_CJK_ENDS = "。！？｡"

CORPORA = {
    "de-DE": (
        "Guten Tag! |Wir treffen uns ⟦z. B.⟧ am ⟦3. Oktober⟧ um ⟦10.30 Uhr⟧ in der "
        "⟦Hauptstr. 5⟧ in Berlin. |Er wohnt in der ⟦Hauptstr. 5⟧ in Berlin. |Bringen Sie "
        "⟦Nr. 7⟧ mit, ⟦d. h.⟧ die Liste ⟦(s. Anhang)⟧. |Der ⟦2. Weltkrieg⟧ endete ⟦1945⟧. "
        "|Fragen an ⟦info@beispiel.de⟧ oder ⟦https://beispiel.de/a.b?c=d⟧ lesen. |Er sagte "
        "⟦„Halt. Jetzt!“⟧ und ging. |Sie rief ⟦»Komm. Schnell!«⟧ und lief. |Das kostet "
        "⟦3,50 €⟧ bzw. ⟦ca. 4 €⟧ ⟦inkl. Steuer⟧. |Wir kaufen ⟦z. B. Äpfel⟧, ⟦vgl. Kapitel 3⟧. ¦Am "
        "⟦1.1.2020⟧ fing es an."
    ),
    "fr-FR": (
        "Bonjour ⟦M. Dupont⟧ ! |Tu viens ce soir ? |Oui, bien sûr. |Il a dit : "
        "⟦« Attends. Pas maintenant ! »⟧ puis il est parti. |Apportez des fruits, ⟦p. ex.⟧ des "
        "pommes, vers ⟦20 h 30⟧. |Le ⟦1er janvier 2024⟧, ⟦Mme Martin⟧ a payé ⟦3,50 €⟧ "
        "⟦(voir ⟦p. 12⟧)⟧. |Écrivez à ⟦jean.dupont@exemple.fr⟧ ou voyez "
        "⟦https://exemple.fr/a.b?c=d⟧ ; merci ! |C'est fini."
    ),
    "es-ES": (
        "¡Hola! |¿Vienes mañana? |Llegó a las ⟦5 p. m.⟧ del lunes con el ⟦Sr. García⟧. "
        "|La ⟦Sra. López⟧ pagó ⟦1.250,50 €⟧ el ⟦12/10/2023⟧. |Escribe a ⟦ana@ejemplo.es⟧ o "
        "visita ⟦https://ejemplo.es/a.b⟧ hoy. |Dijo ⟦«Basta. Ya.»⟧ y se fue. |Fin."
    ),
    "it-IT": (
        "Buongiorno! |Il ⟦Sig. Rossi⟧ arriva alle ⟦15.30⟧ con il ⟦Dott. Bianchi⟧. |Porta "
        "pane, vino, formaggio ⟦ecc.⟧ e torna presto. |Costa ⟦2,50 €⟧ ⟦(vedi ⟦pag. 4⟧)⟧. "
        "|Scrivi a ⟦mario@esempio.it⟧ stasera. |Lei disse: ⟦«Basta. Andiamo!»⟧ e uscì. "
        "|Va bene?"
    ),
    "nl-NL": (
        "Goedemorgen! |Neem fruit mee, ⟦bijv.⟧ appels, ⟦d.w.z.⟧ iets zoets. |⟦Dhr. Jansen⟧ "
        "woont op ⟦nr. 12⟧ sinds ⟦1 jan. 2020⟧. |Mail ⟦p.devries@voorbeeld.nl⟧ of kijk op "
        '⟦https://voorbeeld.nl/a.b⟧ vandaag. |Hij zei: ⟦"Stop. Nu!"⟧ en liep weg. |Klaar.'
    ),
    "tr-TR": (
        "Merhaba! |Ali ⟦3. sınıf⟧ öğrencisi. |⟦Dr. Yılmaz⟧ saat ⟦15.30⟧'da geldi. "
        "|Toplantı ⟦29 Ekim 2023⟧ tarihinde, ⟦Atatürk Cad. No. 5⟧ adresinde. |E-posta "
        "adresi ⟦ali@ornek.com.tr⟧. |Neden? |Çünkü ⟦(bkz. ⟦s. 4⟧)⟧ öyle. |Sınıfta ⟦20⟧ "
        "kişi var, ⟦vb.⟧ şeyler. |Tamam."
    ),
    "ja-JP": (
        "こんにちは。|今日は⟦「雨だ。傘を持って。」⟧と言われた。|価格は⟦3.5⟧ドルです！|"
        "本当？|⟦『吾輩は猫である。』⟧を読みましたか？|メールは⟦taro@example.jp⟧へ、詳細は"
        "⟦https://example.jp/a.b?c=d⟧をご覧ください。|会議は⟦（午後3時。場所は未定。）⟧です。|"
        "以上です。"
    ),
    "ko-KR": (
        "안녕하세요! |오늘은 ⟦2023. 10. 3.⟧ 개천절입니다. |가격은 ⟦3.5⟧달러예요. |메일은 "
        '⟦kim@example.kr⟧로 보내세요. |왜요? |그는 ⟦"그만. 이제 가자."⟧라고 말했다. |끝.'
    ),
    "en-GB": (
        "Good morning! |Mr Smith lives near ⟦St. Paul's⟧ Cathedral. |⟦Dr. Jones⟧ arrived "
        "at ⟦10.30 a.m.⟧ on ⟦3 Oct. 2023⟧, ⟦i.e.⟧ early. |Mix ⟦2 tbsp.⟧ sugar and ⟦1 tsp.⟧ "
        "salt, then ⟦approx. 3 oz.⟧ butter. |It weighs ⟦5 lb.⟧ and is ⟦6 ft.⟧ tall "
        "⟦(see ⟦no. 4⟧)⟧. |Add ⟦1 tbsp. 2⟧ times. |Email ⟦jane@example.co.uk⟧ or visit "
        "⟦https://example.co.uk/a.b?c=d⟧ today. |She said, ⟦“Stop. Now.”⟧ |Then she left. "
        "|England played Brazil ⟦vs. Germany⟧ in ⟦St. Louis, Mo.⟧ and "
        "⟦Washington, D.C.⟧ on ⟦Jan. 1, 1980⟧. |Done."
    ),
    "pt-BR": (
        "Olá! |O ⟦Sr. Silva⟧ mora na ⟦Av. Paulista, nº 1000⟧. |Custa ⟦R$ 3,50⟧, ⟦p. ex.⟧ "
        "o pão. |Escreva para ⟦ana@exemplo.com.br⟧ hoje. |Ele disse: ⟦«Pare. Agora!»⟧ e "
        "saiu. |Tudo bem?"
    ),
    "cmn-CN": (
        "你好！|我今天去了北京。|价格是⟦3.5⟧元，对吗？|他说：⟦“别走。等一下。”⟧然后离开了。|"
        "请发邮件到⟦wang@example.cn⟧，或访问⟦https://example.cn/a.b⟧。|好的。"
    ),
}


@dataclass(frozen=True)
class Corpus:
    """A corpus with its markup resolved to offsets in the plain text."""

    text: str
    required: tuple[int, ...]
    optional: frozenset[int]
    forbidden: tuple[tuple[int, int], ...]

    @property
    def settled_at(self) -> int:
        """How much text must be fed before the first boundary is certain."""
        c = self.required[0]
        return c if self.text[c - 1] == "\n" or self.text[c - 1] in _CJK_ENDS else c + 1


def parse(marked: str) -> Corpus:
    """Resolve the markup of ``marked`` (see the module docstring)."""
    text: list[str] = []
    required: list[int] = []
    optional: set[int] = set()
    spans: list[tuple[int, int]] = []
    open_at: list[int] = []
    for ch in marked:
        at = len(text)
        if ch == "|":
            required.append(at)
        elif ch == "¦":
            optional.add(at)
        elif ch == "⟦":
            open_at.append(at)
        elif ch == "⟧":
            spans.append((open_at.pop(), at))
        else:
            text.append(ch)
    assert not open_at, "unclosed span"
    return Corpus("".join(text), tuple(required), frozenset(optional), tuple(spans))


def cuts(segments: list[Segment]) -> list[int]:
    """The offsets where ``segments`` were cut."""
    return list(itertools.accumulate(len(s.text) for s in segments))[:-1]


def stream(text: str, pieces: list[int], options: SegmenterOptions) -> tuple[list[Segment], int]:
    """Feed ``text`` cut at the offsets ``pieces``; the segments and when the first came out."""
    seg = Segmenter(options)
    out: list[Segment] = []
    first_out = len(text)  # at flush, unless a feed released it earlier
    for a, b in itertools.pairwise([0, *pieces, len(text)]):
        out.extend(seg.feed(text[a:b]))
        if out and first_out == len(text):
            first_out = b
    out.extend(seg.flush())
    return out, first_out


LANGUAGES = sorted(CORPORA)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_boundary_and_no_other_is_cut(language: str) -> None:
    corpus = parse(CORPORA[language])
    options = SegmenterOptions(language=language, **EAGER_OPTIONS)  # type: ignore[arg-type]
    for pieces in ([], list(range(1, len(corpus.text)))):  # whole, then character by character
        segments, _ = stream(corpus.text, pieces, options)
        got = cuts(segments)
        assert [c for c in got if c not in corpus.optional] == list(corpus.required), [
            s.text for s in segments
        ]


@st.composite
def chunkings(draw: st.DrawFn, length: int) -> list[int]:
    """Any chunking of a text of ``length`` characters: the sorted offsets between chunks."""
    return sorted(draw(st.sets(st.integers(1, length - 1), max_size=length)))


segmenter_options = st.fixed_dictionaries(
    {
        "min_chars": st.integers(0, 60),
        "first_fragment": st.booleans(),
        "first_fragment_min_chars": st.integers(0, 40),
        "first_fragment_max_words": st.integers(1, 15),
    }
)


@pytest.mark.parametrize("language", LANGUAGES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_chunking_loses_nothing_and_never_cuts_inside_a_protected_span(
    language: str, data: st.DataObject
) -> None:
    corpus = parse(CORPORA[language])
    eager = data.draw(st.booleans())
    kwargs = EAGER_OPTIONS if eager else data.draw(segmenter_options)
    options = SegmenterOptions(language=language, **kwargs)  # type: ignore[arg-type]
    pieces = data.draw(chunkings(len(corpus.text)))
    segments, first_out = stream(corpus.text, pieces, options)

    assert "".join(s.text for s in segments) == corpus.text  # nothing lost or duplicated
    got = cuts(segments)
    inside = [(c, s, e) for c in got for s, e in corpus.forbidden if s < c < e]
    assert not inside, [corpus.text[s:e] for _, s, e in inside]
    # released by the token that brings the character settling the first boundary
    deadline = min(b for b in [*pieces, len(corpus.text)] if b >= corpus.settled_at)
    assert first_out <= deadline, (first_out, deadline)
    if eager:
        assert [c for c in got if c not in corpus.optional] == list(corpus.required)


@pytest.mark.parametrize(
    ("language", "text", "first"),
    [
        ("ja-JP", "ご質問ありがとうございます、説明しますね。", "ご質問ありがとうございます、"),
        ("cmn-CN", "非常感谢您提出这个问题，我来说明。", "非常感谢您提出这个问题，"),
    ],
)
def test_a_japanese_or_chinese_first_sentence_may_go_out_at_its_first_comma(
    language: str, text: str, first: str
) -> None:
    seg = Segmenter(SegmenterOptions(language=language))
    released = [s for ch in text for s in seg.feed(ch)][:1]
    assert released == [Segment(first, 0, "first_fragment")]


def test_the_cleaner_attaches_french_spacing_to_the_word_before() -> None:
    # the space before ? ! : ; (plain, no-break or narrow no-break) carries no speech
    text = "Tu viens ce soir ? Oui\u00a0! Il a dit\u202f: « Attends » ; puis rien."
    assert clean_markdown(text) == "Tu viens ce soir? Oui! Il a dit: « Attends »; puis rien."


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_french_question_is_cut_after_its_mark_while_streaming(data: st.DataObject) -> None:
    text = "Tu viens ce soir ? Oui, bien sûr."
    pieces = data.draw(chunkings(len(text)))
    cleaner, seg = MarkdownCleaner(), Segmenter(SegmenterOptions(language="fr-FR"))
    released: list[tuple[int, Segment]] = []
    for a, b in itertools.pairwise([0, *pieces, len(text)]):
        released.extend((b, s) for s in seg.feed(cleaner.feed(text[a:b])))
    segments = [s for _, s in released] + seg.feed(cleaner.flush()) + seg.flush()
    assert [s.text for s in segments] == ["Tu viens ce soir? ", "Oui, bien sûr."]
    settled = text.index("Oui") + 1  # the "O" after the question settles the boundary
    assert released
    assert released[0][0] == min(b for b in [*pieces, len(text)] if b >= settled)
