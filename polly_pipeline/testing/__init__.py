"""Test helpers for polly-pipeline users and plugin authors.

Installed with the package as a pytest plugin (:mod:`.pytest_plugin`), so any test suite gets
the ``local_polly``, ``local_polly_config`` and ``fake_llm`` fixtures without a conftest. The
helpers also work outside pytest:

- :class:`FakeLLM`: a scripted OpenAI-compatible streaming model on a running local service
  (the ``fake_llm`` fixture), with the requests it received (:class:`RecordedRequest`).
- :func:`virtual_clock` / :class:`VirtualClockLoop`: tests whose timers (keep-alive, stream
  age, pacing, backoff) run on a virtual clock that jumps to the next timer, in milliseconds.
- :func:`scripted_tokens`: an async iterator of tokens paced like a model, with no server, for
  testing sinks and stages; :func:`split_tokens` cuts text the way the fake model does.
- :data:`REFERENCE_ANSWER`, :func:`canned_answer` (:class:`CannedAnswer`): the answers of the
  local service's demo LLM, for tests (and stand-ins for other model APIs) that replay them
  without a server (:mod:`.demo`).

Imports are lazy: loading the pytest plugin costs nothing for suites that do not use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polly_pipeline.testing.clock import (
        VirtualClockLoop,
        VirtualTimeExceeded,
        run_virtual,
        virtual_clock,
    )
    from polly_pipeline.testing.demo import REFERENCE_ANSWER, CannedAnswer, canned_answer
    from polly_pipeline.testing.fake_llm import (
        DEFAULT_ANSWER,
        FakeLLM,
        FakeLLMSource,
        RecordedRequest,
    )
    from polly_pipeline.testing.scripted import scripted_tokens, split_tokens

__all__ = [
    "DEFAULT_ANSWER",
    "REFERENCE_ANSWER",
    "CannedAnswer",
    "FakeLLM",
    "FakeLLMSource",
    "RecordedRequest",
    "VirtualClockLoop",
    "VirtualTimeExceeded",
    "canned_answer",
    "run_virtual",
    "scripted_tokens",
    "split_tokens",
    "virtual_clock",
]

_MODULES = {
    "REFERENCE_ANSWER": "demo",
    "CannedAnswer": "demo",
    "canned_answer": "demo",
    "DEFAULT_ANSWER": "fake_llm",
    "FakeLLM": "fake_llm",
    "FakeLLMSource": "fake_llm",
    "RecordedRequest": "fake_llm",
    "scripted_tokens": "scripted",
    "split_tokens": "scripted",
    "VirtualClockLoop": "clock",
    "VirtualTimeExceeded": "clock",
    "run_virtual": "clock",
    "virtual_clock": "clock",
}


def __getattr__(name: str) -> Any:
    """Import a helper's module on first use."""
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module  # noqa: PLC0415

    return getattr(import_module(f"polly_pipeline.testing.{module}"), name)
