"""Test helpers: a scripted token stream, like an LLM's, with no server at all.

For sinks and stages that need a text source but no network::

    report = await Pipeline(session).run(
        scripted_tokens("Hello there. How are you?", tokens_per_second=50), MySink()
    )
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence

from polly_pipeline.errors import ConfigurationError, LLMError

__all__ = ["scripted_tokens", "split_tokens"]


def split_tokens(text: str, seed: int = 0) -> list[str]:
    """Cut ``text`` into model-sized tokens (1-4 characters, spaces before words).

    The same cut the local service's demo LLM (and so the ``fake_llm`` fixture) uses: the
    tokens join back to ``text`` exactly, and the same seed gives the same tokens.
    """
    from polly_pipeline.local.demo_llm import tokenize  # noqa: PLC0415 - keep imports light

    return tokenize(text, seed)


def scripted_tokens(
    answer: str | Sequence[str],
    *,
    first_token_delay: float = 0.0,
    tokens_per_second: float = 0.0,
    fail_after_tokens: int | None = None,
    seed: int = 0,
) -> AsyncIterator[str]:
    """Yield ``answer`` token by token, paced like a streaming model.

    Args:
        answer: a text (cut with :func:`split_tokens`) or the exact tokens to yield.
        first_token_delay: seconds from the start of iteration to the first token.
        tokens_per_second: the rate of the following tokens; 0 yields them at once.
        fail_after_tokens: raise :class:`~polly_pipeline.errors.LLMError` after this many
            tokens, as a source does when the model's stream breaks (its ``chars_received``
            counts the text yielded first).
        seed: how a text is cut into tokens.

    Raises:
        ConfigurationError: a negative delay, rate or failure point, or tokens that are not
            strings (raised at once, not when iterating).
    """
    if first_token_delay < 0 or tokens_per_second < 0:
        raise ConfigurationError("first_token_delay and tokens_per_second must be >= 0")
    if fail_after_tokens is not None and fail_after_tokens < 0:
        raise ConfigurationError("fail_after_tokens must be >= 0 (or None)")
    if isinstance(answer, str):
        tokens = split_tokens(answer, seed)
    else:
        tokens = list(answer)
        bad = [type(t).__name__ for t in tokens if not isinstance(t, str)]
        if bad:
            raise ConfigurationError(f"scripted tokens must be strings, got {', '.join(bad)}")
    interval = 1.0 / tokens_per_second if tokens_per_second else 0.0
    return _paced(tokens, first_token_delay, interval, fail_after_tokens)


async def _paced(
    tokens: list[str], first_delay: float, interval: float, fail_after: int | None
) -> AsyncGenerator[str, None]:
    loop = asyncio.get_running_loop()
    first = loop.time() + first_delay
    sent = 0
    for index, token in enumerate(tokens):
        if fail_after is not None and index >= fail_after:
            raise LLMError(
                f"the scripted stream broke after {index} tokens ({sent} characters)",
                chars_received=sent,
            )
        delay = first + index * interval - loop.time()
        await asyncio.sleep(max(delay, 0.0))  # also yields to the loop between fast tokens
        sent += len(token)
        yield token
