"""Pytest fixtures (registered as a pytest plugin when polly-pipeline is installed).

- ``local_polly_config``: the :class:`LocalServiceConfig` used by ``local_polly``; override it
  in your own ``conftest.py`` to scale limits down or inject faults.
- ``local_polly``: a started local Polly service on an ephemeral loopback port, running on its
  own thread, so it serves sync and async tests (any event loop) alike.
- ``fake_llm``: a scripted OpenAI-compatible streaming model served by ``local_polly`` over
  TLS (:class:`~polly_pipeline.testing.FakeLLM`): script the answer, its pacing and a failure,
  get a real ``openai.AsyncOpenAI`` client or a ready source, and check the requests received.

- ``no_ambient_aws``: the test sees none of the machine's AWS settings (every ``AWS_*``
  variable removed, empty config and credentials files, no instance metadata): use it
  (``autouse`` in your ``conftest.py``) so tests never pick up a developer's credentials.

Imports are lazy: loading the plugin costs nothing for test suites that do not use it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from polly_pipeline.local.config import LocalServiceConfig
    from polly_pipeline.local.service import LocalPollyService
    from polly_pipeline.testing.fake_llm import FakeLLM

__all__ = ["fake_llm", "local_polly", "local_polly_config", "no_ambient_aws"]


@pytest.fixture
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide the machine's AWS configuration: variables, config files and instance metadata."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    """Configuration of the ``local_polly`` service (override to change limits or faults)."""
    from polly_pipeline.local.config import LocalServiceConfig  # noqa: PLC0415

    return LocalServiceConfig()


@pytest.fixture
def local_polly(
    local_polly_config: LocalServiceConfig, tmp_path: Path
) -> Iterator[LocalPollyService]:
    """A running local Polly service; point clients at ``local_polly.client()``."""
    from polly_pipeline.local.background import BackgroundService  # noqa: PLC0415

    with BackgroundService(local_polly_config, ca_file=tmp_path / "polly-local-ca.pem") as svc:
        yield svc


@pytest.fixture
def fake_llm(local_polly: LocalPollyService) -> Iterator[FakeLLM]:
    """A scripted streaming model on ``local_polly``'s ``/v1/chat/completions`` endpoint."""
    from polly_pipeline.testing.fake_llm import FakeLLM  # noqa: PLC0415

    llm = FakeLLM(local_polly)
    yield llm
    left_open = llm.unclosed_clients()
    if left_open:
        pytest.fail(
            f"fake_llm: {left_open} openai client(s) from fake_llm.client() were not closed; "
            "use `async with fake_llm.client() as llm:` (open sockets would fail a later test)",
            pytrace=False,
        )
