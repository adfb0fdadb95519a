"""Shared fixtures: a fast local Bedrock Runtime, a botocore client for it, and hygiene checks."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from polly_pipeline_bedrock.testing import LocalBedrock, LocalBedrockConfig

#: The model id the tests ask for (with the ``:`` that botocore encodes in the path).
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
FIRST_TOKEN_DELAY = 0.2
TOKENS_PER_SECOND = 1000.0
READER_THREAD = "bedrock-converse-stream"


@pytest.fixture(autouse=True)
def _isolated(no_ambient_aws: None) -> None:
    """Tests never see the developer's AWS configuration or reach instance metadata."""


def reader_threads() -> list[threading.Thread]:
    """The source's reader threads still alive."""
    return [t for t in threading.enumerate() if t.name == READER_THREAD and t.is_alive()]


@pytest.fixture(autouse=True)
def _no_leaked_reader_threads() -> Iterator[None]:
    """Every test ends with its reader threads gone (a short grace for the last join)."""
    yield
    deadline = time.monotonic() + 2.0
    while reader_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reader_threads() == [], "a Bedrock reader thread outlived its test"


@pytest.fixture
def local_bedrock_config() -> LocalBedrockConfig:
    """A model fast enough for tests, slow enough that the pacing shows."""
    return LocalBedrockConfig(
        first_token_delay=FIRST_TOKEN_DELAY, tokens_per_second=TOKENS_PER_SECOND
    )


@pytest.fixture
async def bedrock(local_bedrock: LocalBedrock) -> AsyncIterator[Any]:
    """A botocore bedrock-runtime client for the local server, closed after the test."""
    client = local_bedrock.client(read_timeout=5, connect_timeout=3)
    try:
        yield client
    finally:
        client.close()
