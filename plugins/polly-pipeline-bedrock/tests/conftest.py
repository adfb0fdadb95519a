"""Shared fixtures: a fast local Bedrock Runtime, a botocore client for it, and hygiene checks."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from polly_pipeline_bedrock.testing import LocalBedrock, LocalBedrockConfig

#: The model id the tests ask for (with the ``:`` that botocore encodes in the path).
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
FIRST_TOKEN_DELAY = 0.2
TOKENS_PER_SECOND = 1000.0
READER_THREAD = "bedrock-converse-stream"


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's AWS configuration or reach instance metadata."""
    for var in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "AWS_ENDPOINT_URL_POLLY",
        "AWS_CA_BUNDLE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


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
