"""The five texts of the time-to-first-audio comparison, and their floors.

Each text is cut into tokens the way the demo model cuts its answers
(:func:`polly_pipeline.local.demo_answers.tokenize`) and paced like a real model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.plain import first_boundary_token
from polly_pipeline.local.config import DemoLLMConfig, LatencyModel
from polly_pipeline.local.demo_answers import REFERENCE_ANSWER, canned_answer, tokenize

SURE_ANSWER = (
    "Sure. Streaming speech starts talking before the model has finished writing: each "
    "finished sentence goes to the speech service at once, and its audio plays while the rest "
    "of the answer is still being written. The listener hears the first words within a "
    "second or so.\n"
)
LONG_FIRST_SENTENCE = (
    "Streaming text-to-speech lets an assistant start talking before the language model has "
    "finished writing its answer, because instead of waiting for the whole reply the pipeline "
    "hands each finished piece of text to the speech service as soon as it is complete, so "
    "the first words play within a second or so. That is the whole idea.\n"
)


#: A short spoken answer for the framework bridges: a one-word first sentence, then a long one
#: (where a service that waits for whole sentences leaves the listener in silence), then a
#: short one.
CONVERSATIONAL_ANSWER = (
    "Sure. The sky looks blue because the molecules of the air scatter the short, blue "
    "wavelengths of sunlight far more strongly than the long, red ones, so blue light reaches "
    "your eyes from every part of the sky. At sunset the light crosses much more air, and "
    "the reds remain."
)


def _canned(question: str) -> str:
    return canned_answer([{"role": "user", "content": question}]).text


@dataclass(frozen=True)
class Workload:
    """One text, the voice that speaks it, and its tokens."""

    key: str
    label: str
    text: str
    voice: str
    #: whether the first boundary is one no rule can doubt (the floor target applies)
    unambiguous: bool = True
    tokens: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", tuple(tokenize(self.text)))

    def floor(self, llm: DemoLLMConfig, latency: LatencyModel) -> float:
        """Seconds from the request to the earliest possible first audio (the plain rule).

        The arrival of the first token at which the plain regex sees the first sentence or
        heading line complete, plus the service's first-audio latency and network delay.
        """
        return token_arrival(first_boundary_token(self.tokens), llm) + service_first_audio(latency)


def token_arrival(index: int, llm: DemoLLMConfig) -> float:
    """When token ``index`` arrives, in seconds from the request."""
    return llm.first_token_delay + index / llm.tokens_per_second


def service_first_audio(latency: LatencyModel) -> float:
    """The service's first-audio latency as the local service applies it."""
    return latency.first_audio + latency.network_delay


WORKLOADS = (
    Workload("reference", "reference answer (starts with a heading)", REFERENCE_ANSWER, "Joanna"),
    Workload("sure", 'answer starting "Sure."', SURE_ANSWER, "Joanna"),
    Workload("long", "prose with a long first sentence", LONG_FIRST_SENTENCE, "Joanna"),
    Workload("german", "German answer (Vicki)", _canned("Warum ist der Himmel blau?"), "Vicki"),
    Workload("japanese", "Japanese answer (Kazuha)", _canned("空はなぜ青いのですか？"), "Kazuha"),
)
