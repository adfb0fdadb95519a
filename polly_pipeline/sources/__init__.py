"""Pipeline layer: sources of text, as async iterators of deltas (what an LLM streams).

- :func:`openai_chat_source`: a streamed OpenAI (or compatible) chat completion; needs the
  ``openai`` package, imported only when this name is first used.
- :func:`iterable_source`, :func:`file_source`, :func:`stdin_source`: text without an LLM.
- :class:`StreamingTextSource`: the base of a model-backed source (for plugin authors adding
  another model's API): deltas, a running tally, ``aclose()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polly_pipeline.sources.base import StreamingTextSource
from polly_pipeline.sources.basic import file_source, iterable_source, stdin_source

if TYPE_CHECKING:
    from polly_pipeline.sources.openai_source import (
        ChatStreamResult,
        OpenAIChatSource,
        TokenUsage,
        openai_chat_source,
    )

__all__ = [
    "ChatStreamResult",
    "OpenAIChatSource",
    "StreamingTextSource",
    "TokenUsage",
    "file_source",
    "iterable_source",
    "openai_chat_source",
    "stdin_source",
]

_OPENAI_NAMES = frozenset(
    {"ChatStreamResult", "OpenAIChatSource", "TokenUsage", "openai_chat_source"}
)


def __getattr__(name: str) -> Any:
    """Import the openai-backed names on first use (the openai package is optional)."""
    if name in _OPENAI_NAMES:
        from polly_pipeline.sources import openai_source  # noqa: PLC0415

        return getattr(openai_source, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
