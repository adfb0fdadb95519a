"""Fixtures: an IPython shell whose displays are captured, and a client of the local service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local import LocalPollyService


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A plain IPython shell (no history file), as ``get_ipython()`` returns in a kernel."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    config = Config()
    config.HistoryManager.enabled = False
    instance = InteractiveShell.instance(config=config)
    try:
        yield instance
    finally:
        InteractiveShell.clear_instance()


@pytest.fixture
def displayed(shell: InteractiveShell) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A function returning every display published so far (data, metadata, transient, update)."""
    with capture_output(display=True) as captured:

        def outputs() -> list[dict[str, Any]]:
            return [
                {
                    "data": out.data,
                    "metadata": out.metadata,
                    "transient": out.transient,
                    "update": out.update,
                }
                for out in captured.outputs
            ]

        yield outputs


@pytest.fixture
async def polly(local_polly: LocalPollyService) -> AsyncIterator[PollyStreamingClient]:
    """A client of the local service, closed after the test."""
    client = local_polly.client()
    try:
        yield client
    finally:
        await client.aclose()
