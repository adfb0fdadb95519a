"""Test helpers: the local service's demo LLM answers, replayed without a server.

The demo LLM (served by :class:`~polly_pipeline.local.LocalPollyService` beside Polly, model
:data:`~polly_pipeline.local.DEMO_MODEL`) answers from canned texts chosen by keywords in the
last user message. Tests and stand-ins for other model APIs use the same answers, so what a
test expects to hear is what the demo says::

    tokens = split_tokens(canned_answer([{"role": "user", "content": "Tell me a joke."}]).text)
    assert "".join(tokens) == canned_answer(...).text

- :data:`REFERENCE_ANSWER`: the default answer and the benchmarks' reference workload
  (markdown, abbreviations, decimals, money, a date and a URL).
- :func:`canned_answer`: the :class:`CannedAnswer` the demo gives a conversation.
- :func:`~polly_pipeline.testing.split_tokens` cuts an answer into the demo's tokens.
"""

from __future__ import annotations

from polly_pipeline.local.demo_answers import REFERENCE_ANSWER, CannedAnswer, canned_answer

__all__ = ["REFERENCE_ANSWER", "CannedAnswer", "canned_answer"]
