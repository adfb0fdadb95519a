"""Local service layer: the demo LLM's canned answers and its tokenizer.

The answers (:data:`CANNED_ANSWERS`, chosen by keywords in the last user message, and
:data:`REFERENCE_ANSWER`, the default and the benchmark's reference workload) and
:func:`tokenize`, which cuts a text into word-piece-sized tokens the way a real model streams
them. Pure data and functions: :mod:`polly_pipeline.local.demo_llm` serves them over OpenAI's
chat completions API, and tests, benchmarks and plugins replay them without a server.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CANNED_ANSWERS",
    "REFERENCE_ANSWER",
    "CannedAnswer",
    "canned_answer",
    "message_text",
    "tokenize",
]

#: The default answer and the benchmark's reference workload: markdown (headings, a numbered
#: and a bulleted list, bold and italics), abbreviations, decimals, money, a date and a URL.
REFERENCE_ANSWER = """\
# Streaming speech, step by step

Streaming text-to-speech lets an assistant start talking **before** the language model has \
finished writing. Instead of waiting for the whole reply, the pipeline hands each finished \
sentence to the speech service at once, so the first words play within a second or so.

## How it works

1. **Generate**: the model writes its answer a few characters at a time.
2. **Clean**: markdown, e.g. headings, bullet points and *emphasis*, is removed, because none \
of it should be read aloud.
3. **Segment**: the text is cut at sentence boundaries, but never inside abbreviations such as \
"Dr." or "e.g.", decimals such as 3.14, or dates such as March 14, 2025.
4. **Speak**: each segment goes to Amazon Polly over one persistent bidirectional stream, and \
the audio comes back in small chunks.

## Why it matters

Dr. Rivera, who studies conversational interfaces, puts it simply: people judge an assistant \
by how soon it answers, not by how soon it finishes. A long answer may take 8.5 seconds to \
generate, yet its first sentence is ready after about 0.4 seconds. Speaking that sentence \
right away cuts the silence by more than 90%.

The savings add up at scale. A support line that handles 20,000 calls a day could spend \
$1.5 million a year on callers waiting in silence, and a faster voice shortens every one of \
those calls.

## Things to watch

- Keep the spaces between pieces of text, or "12345." and "Let" run together.
- Flush early for the first sentence, then let Polly wait for natural boundaries.
- Stop the audio at once when the user interrupts.

You can read more about the service at https://docs.aws.amazon.com/polly/latest/dg/what-is.html. \
This answer was written by the polly-pipeline demo model, an offline stand-in for a real LLM.
"""


@dataclass(frozen=True)
class CannedAnswer:
    """One canned answer: its text, and whether it comes as content or as a refusal."""

    text: str
    kind: Literal["content", "refusal"] = "content"


#: Keyword patterns (matched against the last user message, first match wins) and answers.
CANNED_ANSWERS: tuple[tuple[str, CannedAnswer], ...] = (
    (r"\brefuse\b", CannedAnswer("I'm sorry, but I can't help with that request.", "refusal")),
    (r"\b(short|one word)\b", CannedAnswer("OK.")),
    (  # a question in German (for a German voice such as Vicki)
        r"\b(warum|wieso|weshalb|deutsch)\b",
        CannedAnswer(
            "Gern. Der Himmel ist blau, weil die Luft das Sonnenlicht streut: kurze, blaue "
            "Wellen werden etwa 5,5-mal stärker gestreut als rote. Das hat z. B. Lord Rayleigh "
            "schon im 19. Jh. beschrieben.\n\n## Warum nicht violett?\n\n- Die Sonne sendet "
            "weniger violettes Licht.\n- Unsere Augen sind für Blau empfindlicher.\n\nAbends "
            "wird der Himmel rot, weil das Licht einen längeren Weg durch die Luft nimmt. Ich "
            "bin übrigens das Demo-Modell von polly-pipeline, ein Offline-Ersatz für ein echtes "
            "Sprachmodell."
        ),
    ),
    (  # a question in Japanese (for a Japanese voice such as Kazuha)
        r"[\u3040-\u30ff\u4e00-\u9fff]",
        CannedAnswer(
            "はい、お答えします。空が青いのは、空気が太陽の光を散乱させるからです。青い光は波長が"
            "短いので、赤い光より約5.5倍も強く散乱されます。\n\n## 夕焼けが赤い理由\n\n"
            "夕方は光が空気の中を長く進むため、青い光が先に散ってしまい、赤い光が残ります。"
            "「なるほど！」と思っていただけたでしょうか。"
            "ちなみに、私はpolly-pipelineのデモ用モデルで、本物の言語モデルの代わりです。"
        ),
    ),
    (
        r"\bcode\b",
        CannedAnswer(
            'Here is a tiny example in Python:\n\n```python\nprint("Hello, world!")\n```\n\n'
            "It prints a greeting. A voice assistant should describe code like this rather "
            "than read it out symbol by symbol."
        ),
    ),
    (
        r"\bjokes?\b",
        CannedAnswer(
            "I asked my assistant to speak faster. Now it finishes my sentences before I've "
            "even started them. That's streaming for you! (I'm the offline demo model, so my "
            "jokes are canned, too.)"
        ),
    ),
    (
        r"\bweather\b",
        CannedAnswer(
            "I'm an offline demo model, so I can't look up the weather. If I could, I might "
            "say: sunny, with a high of 21°C (70°F), a light breeze of 15 km/h, and a 10% "
            "chance of rain after 6 p.m."
        ),
    ),
    (
        r"\b(hello|hi|hey)\b",
        CannedAnswer(
            "Hello! I'm the polly-pipeline demo model, an offline stand-in for a real language "
            "model. Ask me how streaming speech works, for a joke, or about the weather, and "
            "I'll answer with canned text that is spoken while it streams."
        ),
    ),
)

# Like GPT's pre-tokenizers, in Python's re: contractions, words and numbers with their
# leading space, punctuation runs, line breaks, and whitespace (which leaves its last space
# for the next word).
_PRETOKEN = re.compile(
    r"'(?:s|t|re|ve|m|ll|d)\b| ?[^\W\d_]+| ?\d{1,3}| ?(?:[^\w\s]|_)+|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def tokenize(text: str, seed: int = 0) -> list[str]:
    """Cut ``text`` into 1-4 character tokens, spaces attached to the word after them.

    The pieces join back to ``text`` exactly; the same seed gives the same pieces.
    """
    rng = random.Random(seed)
    tokens: list[str] = []
    for match in _PRETOKEN.finditer(text):
        piece = match.group()
        while len(piece) > 4:
            size = rng.choice((2, 3, 3, 4, 4, 4))
            if len(piece) - size < 1:
                size = len(piece) - 1
            tokens.append(piece[:size])
            piece = piece[size:]
        tokens.append(piece)
    return tokens


def canned_answer(messages: Sequence[Mapping[str, Any]]) -> CannedAnswer:
    """The answer to a conversation: picked by keywords in its last user message."""
    wanted = ""
    for message in reversed(messages):
        if message.get("role") == "user":
            wanted = message_text(message.get("content")).lower()
            break
    for pattern, answer in CANNED_ANSWERS:
        if re.search(pattern, wanted):
            return answer
    return CannedAnswer(REFERENCE_ANSWER)


def message_text(content: Any) -> str:
    """A message's text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""
